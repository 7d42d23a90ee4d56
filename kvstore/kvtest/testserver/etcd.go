package testserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"testing"
)

// Etcd starts etcd 3.7 for the test, serving the v3 API on Endpoints[0].
//
// With WithAuth, user "root" (Username/Password) exists with the root role and authentication is
// on. With WithTLS, the client port speaks only TLS and requires a client certificate; beware
// that etcd then takes a client certificate's common name as the user name when a request
// carries no password.
func Etcd(t testing.TB, opts ...Option) *Server {
	t.Helper()
	RequireBinaries(t, "etcd "+EtcdVersion, EtcdBinary())
	return startEtcd(t, "etcd", EtcdBinary(), nil, applyOptions(opts))
}

// EtcdV2 starts Debian's etcd 3.4 with --enable-v2, so Endpoints[0] serves the v2 API (and the
// v3 API too). etcd 3.5 and later removed the v2 API.
//
// With WithAuth, v2 authentication is on with user "root" (Username/Password), and the guest role
// has lost its permissions, so a request without credentials is refused as well.
func EtcdV2(t testing.TB, opts ...Option) *Server {
	t.Helper()
	RequireBinaries(t, "etcd 3.4 (Debian package etcd-server)", debianEtcd)
	return startEtcd(t, "etcd-v2", debianEtcd, []string{"--enable-v2"}, applyOptions(opts))
}

func startEtcd(t testing.TB, name, bin string, extra []string, o options) *Server {
	t.Helper()
	s := newServer(t, name)
	s.bin = bin
	setupTLS(t, s, o)
	client := probeClient(s.TLS)
	base := func() string { return scheme(o.tls) + "://" + s.Endpoints[0] }
	s.ready = func(ctx context.Context) error {
		body, err := httpCall(ctx, client, http.MethodGet, base()+"/health", nil, nil, http.StatusOK)
		if err != nil {
			return err
		}
		if !bytes.Contains(body, []byte(`"true"`)) {
			return fmt.Errorf("unhealthy: %s", body)
		}
		return nil
	}
	s.launch(t, func() {
		ports := freePorts(t, 2)
		client, peer := Loopback(ports[0]), "http://"+Loopback(ports[1])
		s.Endpoints = []string{client}
		s.args = append([]string{
			"--name", "default",
			"--data-dir", s.Dir,
			"--listen-client-urls", base(),
			"--advertise-client-urls", base(),
			"--listen-peer-urls", peer,
			"--initial-advertise-peer-urls", peer,
			"--initial-cluster", "default=" + peer,
			"--logger", "zap",
			"--log-outputs", "stderr",
		}, extra...)
		if o.tls {
			s.args = append(s.args,
				"--cert-file", s.serverCert.CertFile,
				"--key-file", s.serverCert.KeyFile,
				"--trusted-ca-file", s.CA.CertFile,
				"--client-cert-auth")
		}
	})
	if o.auth {
		s.Username, s.Password = "root", rand.Text()
		var err error
		if name == "etcd-v2" {
			err = enableEtcdV2Auth(t.Context(), client, base(), s.Password)
		} else {
			err = enableEtcdAuth(t.Context(), client, base(), s.Password)
		}
		if err != nil {
			t.Fatalf("testserver: %s: enabling auth: %v", name, err)
		}
	}
	return s
}

// enableEtcdAuth turns on v3 authentication through etcd's JSON gateway, which saves this
// package a gRPC client.
func enableEtcdAuth(ctx context.Context, c *http.Client, base, password string) error {
	calls := []struct {
		path string
		body any
	}{
		{"/v3/auth/user/add", map[string]string{"name": "root", "password": password}},
		{"/v3/auth/user/grant", map[string]string{"user": "root", "role": "root"}},
		{"/v3/auth/enable", map[string]string{}},
	}
	for _, call := range calls {
		if _, err := httpCall(ctx, c, http.MethodPost, base+call.path, call.body, nil, http.StatusOK); err != nil {
			return err
		}
	}
	return nil
}

// enableEtcdV2Auth turns on v2 authentication. Enabling it leaves the guest role able to read
// and write everything; revoking that makes credentials necessary, as a test of auth expects.
func enableEtcdV2Auth(ctx context.Context, c *http.Client, base, password string) error {
	if _, err := httpCall(ctx, c, http.MethodPut, base+"/v2/auth/users/root",
		map[string]string{"user": "root", "password": password}, nil, http.StatusCreated, http.StatusOK); err != nil {
		return err
	}
	if _, err := httpCall(ctx, c, http.MethodPut, base+"/v2/auth/enable", nil, nil, http.StatusOK); err != nil {
		return err
	}
	req, _ := http.NewRequest(http.MethodGet, base, nil)
	req.SetBasicAuth("root", password)
	revoke := map[string]any{
		"role":   "guest",
		"revoke": map[string]any{"kv": map[string][]string{"read": {"/*"}, "write": {"/*"}}},
	}
	_, err := httpCall(ctx, c, http.MethodPut, base+"/v2/auth/roles/guest", revoke, req.Header, http.StatusOK)
	return err
}
