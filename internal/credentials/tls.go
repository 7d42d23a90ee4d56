package credentials

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrNoCertificate is returned by TLS when the CA bundle holds no PEM certificate.
var ErrNoCertificate = errors.New("credentials: CA bundle holds no PEM certificate")

// KeyPairError reports a client certificate and key that do not make a key pair. It carries
// the error of crypto/tls as is, so callers can name the certificate's origin in front of it.
type KeyPairError struct{ Err error }

func (e *KeyPairError) Error() string {
	return "credentials: client certificate and key: " + e.Err.Error()
}
func (e *KeyPairError) Unwrap() error { return e.Err }

// PEM is the material of a client TLS configuration. Every field is optional.
type PEM struct {
	// CA is a bundle of certificates that verify the server; empty trusts the system's roots.
	CA []byte
	// Cert and Key are the client's certificate and private key; both or neither.
	Cert, Key []byte
	// ServerName is the name expected in the server's certificate; empty takes it from the
	// address dialled.
	ServerName string
}

// TLS builds a client TLS configuration from p. A CA bundle without any PEM certificate is
// ErrNoCertificate; a certificate and key that do not pair is a *KeyPairError.
func TLS(p PEM) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: p.ServerName}
	if len(p.CA) > 0 {
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(p.CA) {
			return nil, ErrNoCertificate
		}
	}
	if len(p.Cert) > 0 || len(p.Key) > 0 {
		pair, err := tls.X509KeyPair(p.Cert, p.Key)
		if err != nil {
			return nil, &KeyPairError{Err: err}
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Files names files of PEM material and secrets, as command-line flags do. Every field is
// optional.
type Files struct {
	// CA, Cert and Key are PEM files: see PEM.
	CA, Cert, Key string
	// ServerName is PEM.ServerName.
	ServerName string
	// Password and Token are files holding a password and a token; surrounding white space is
	// not part of them, so a file written by echo works.
	Password, Token string
}

// TLS reads the PEM files and builds the TLS configuration, or returns nil when no TLS setting is
// given (the store is then dialled in plain text).
func (f *Files) TLS() (*tls.Config, error) {
	if f.CA == "" && f.Cert == "" && f.ServerName == "" {
		return nil, nil
	}
	p := PEM{ServerName: f.ServerName}
	var err error
	if p.CA, err = readOptional(f.CA); err != nil {
		return nil, err
	}
	if p.Cert, err = readOptional(f.Cert); err != nil {
		return nil, err
	}
	if p.Key, err = readOptional(f.Key); err != nil {
		return nil, err
	}
	cfg, err := TLS(p)
	var pairErr *KeyPairError
	switch {
	case errors.Is(err, ErrNoCertificate):
		return nil, fmt.Errorf("%s holds no PEM certificate", f.CA)
	case errors.As(err, &pairErr):
		return nil, pairErr.Err
	}
	return cfg, err
}

// Secrets reads the password and token files; an empty name gives an empty value.
func (f *Files) Secrets() (password, token string, err error) {
	if password, err = ReadSecretFile(f.Password); err != nil {
		return "", "", err
	}
	if token, err = ReadSecretFile(f.Token); err != nil {
		return "", "", err
	}
	return password, token, nil
}

// ReadSecretFile returns the content of the file at path without surrounding white space, or ""
// when path is empty.
func ReadSecretFile(path string) (string, error) {
	data, err := readOptional(path)
	return strings.TrimSpace(string(data)), err
}

func readOptional(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	return os.ReadFile(path)
}
