package controllers

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/internal/credentials"
	"github.com/kvmirror/kvmirror/kvstore"
)

// Keys read from the Secrets a mirror references. The TLS names are those of kubernetes.io/tls
// Secrets (plus ca.crt), so a Secret made by cert-manager fits as is.
const (
	secretCA       = "ca.crt"
	secretCert     = "tls.crt"
	secretKey      = "tls.key"
	secretUsername = "username"
	secretPassword = "password"
	secretToken    = "token"
)

// backendConfig is everything needed to open a Store for a mirror, with the Secret contents
// already resolved.
type backendConfig struct {
	backend   string
	endpoints []string
	store     kvstore.Config
	// key identifies the configuration, Secret contents included, for the connection pool.
	key string
	// label names the backend in metrics and logs, without any secret: type://endpoints.
	label string
}

// syncError is a failure with the Ready reason it maps to.
type syncError struct {
	reason string
	err    error
}

func (e *syncError) Error() string { return e.err.Error() }
func (e *syncError) Unwrap() error { return e.err }

func failure(reason string, format string, args ...any) *syncError {
	return &syncError{reason: reason, err: fmt.Errorf(format, args...)}
}

// resolveBackend reads the mirror's Secrets, in the mirror's namespace only, and builds the
// configuration to open its Store with.
func resolveBackend(ctx context.Context, c client.Reader, m *v1alpha1.KVMirror) (*backendConfig, error) {
	spec := m.Spec.Backend
	cfg := &backendConfig{
		backend:   string(spec.Type),
		endpoints: spec.Endpoints,
		label:     string(spec.Type) + "://" + strings.Join(spec.Endpoints, ","),
	}
	cfg.store.Bucket = spec.Bucket
	cfg.store.ConnectionTimeout = kvstore.DefaultConnectionTimeout
	if spec.ConnectionTimeout != nil && spec.ConnectionTimeout.Duration > 0 {
		cfg.store.ConnectionTimeout = spec.ConnectionTimeout.Duration
	}

	h := sha256.New()
	writeFields(h, cfg.backend, spec.Bucket, cfg.store.ConnectionTimeout.String())
	writeFields(h, spec.Endpoints...)

	if ref := spec.TLSSecretRef; ref != nil {
		data, err := readSecret(ctx, c, m.Namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		if cfg.store.TLS, err = tlsConfig(ref, data); err != nil {
			return nil, err
		}
		writeFields(h, "tls", ref.Name, ref.ServerName, string(data[secretCA]), string(data[secretCert]), string(data[secretKey]))
	}
	if ref := spec.CredentialsSecretRef; ref != nil {
		data, err := readSecret(ctx, c, m.Namespace, ref.Name)
		if err != nil {
			return nil, err
		}
		cfg.store.Username, cfg.store.Password = string(data[secretUsername]), string(data[secretPassword])
		cfg.store.Token = string(data[secretToken])
		if cfg.store.Username == "" && cfg.store.Token == "" {
			return nil, failure(v1alpha1.ReasonInvalidSecret, "Secret %q holds neither %q nor %q", ref.Name, secretUsername, secretToken)
		}
		writeFields(h, "credentials", ref.Name, cfg.store.Username, cfg.store.Password, cfg.store.Token)
	}
	cfg.key = hex.EncodeToString(h.Sum(nil))
	return cfg, nil
}

func readSecret(ctx context.Context, c client.Reader, namespace, name string) (map[string][]byte, error) {
	var s corev1.Secret
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s)
	switch {
	case apierrors.IsNotFound(err):
		return nil, failure(v1alpha1.ReasonSecretNotFound, "Secret %q not found in namespace %q", name, namespace)
	case err != nil:
		return nil, &syncError{reason: v1alpha1.ReasonAPIError, err: fmt.Errorf("read Secret %q: %w", name, err)}
	}
	return s.Data, nil
}

// tlsConfig builds a client TLS configuration from a Secret's ca.crt, tls.crt and tls.key.
func tlsConfig(ref *v1alpha1.TLSSecretReference, data map[string][]byte) (*tls.Config, error) {
	ca, cert, key := data[secretCA], data[secretCert], data[secretKey]
	if len(ca) == 0 && len(cert) == 0 {
		return nil, failure(v1alpha1.ReasonInvalidSecret, "Secret %q holds neither %q nor %q", ref.Name, secretCA, secretCert)
	}
	cfg, err := credentials.TLS(credentials.PEM{CA: ca, Cert: cert, Key: key, ServerName: ref.ServerName})
	var pairErr *credentials.KeyPairError
	switch {
	case errors.Is(err, credentials.ErrNoCertificate):
		return nil, failure(v1alpha1.ReasonInvalidSecret, "Secret %q: %s holds no PEM certificate", ref.Name, secretCA)
	case errors.As(err, &pairErr):
		return nil, failure(v1alpha1.ReasonInvalidSecret, "Secret %q: %s and %s: %v", ref.Name, secretCert, secretKey, pairErr.Err)
	}
	return cfg, err
}

// writeFields hashes each field with its length first, so that no two different field lists
// hash alike ("ab","c" and "a","bc").
func writeFields(h hash.Hash, fields ...string) {
	var n [8]byte
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
}

// classify turns an error from opening or reading a Store into a Ready reason.
func classify(err error) string {
	var se *syncError
	switch {
	case errors.As(err, &se):
		return se.reason
	case errors.Is(err, kvstore.ErrPermissionDenied):
		return v1alpha1.ReasonPermissionDenied
	case errors.Is(err, kvstore.ErrUnknownBackend), errors.Is(err, kvstore.ErrInvalidOption), errors.Is(err, kvstore.ErrInvalidKey):
		return v1alpha1.ReasonInvalidSpec
	default:
		return v1alpha1.ReasonBackendUnreachable
	}
}

// storeTimeout bounds one List: the Store promises an error within ConnectionTimeout, and the
// margin keeps a backend that breaks that promise from holding a worker for ever.
func storeTimeout(cfg *backendConfig) time.Duration {
	return 2*cfg.store.Timeout() + time.Second
}
