package etcd_test

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestTLS: with the server's client configuration every call works; a client certificate from
// another CA, a server certificate the client does not trust, and no TLS at all fail at New,
// within the connection timeout, with the reason in the message.
func TestTLS(t *testing.T) {
	t.Parallel()
	server := testserver.Etcd(t, testserver.WithTLS())
	st := open(t, server.Endpoints, &kvstore.Config{TLS: server.TLS})
	exercise(t, st)

	other := testserver.NewCA(t)
	foreignClient := server.TLS.Clone()
	foreignClient.Certificates = []tls.Certificate{other.ClientCert(t, "intruder").TLS}
	untrustedServer := server.TLS.Clone()
	untrustedServer.RootCAs = other.Pool()
	for name, c := range map[string]struct {
		cfg *tls.Config
		// reason is what the message must say; a rejected client certificate shows as a
		// broken connection or as a TLS alert depending on timing, so it has none.
		reason string
	}{
		"client certificate from another CA": {foreignClient, ""},
		"server certificate not trusted":     {untrustedServer, "x509: certificate signed by unknown authority"},
		"no TLS":                             {nil, ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := expectNewFails(t, server.Endpoints, &kvstore.Config{TLS: c.cfg, ConnectionTimeout: 2 * time.Second}, kvstore.ErrUnreachable)
			if !strings.Contains(err.Error(), c.reason) {
				t.Errorf("the error does not say %q", c.reason)
			}
		})
	}
}

// TestAuth: the right credentials work for every kind of call; a wrong password and no
// credentials are ErrPermissionDenied, at New, within the connection timeout.
func TestAuth(t *testing.T) {
	t.Parallel()
	server := testserver.Etcd(t, testserver.WithAuth())
	st := open(t, server.Endpoints, &kvstore.Config{Username: server.Username, Password: server.Password})
	exercise(t, st)

	for name, cfg := range map[string]*kvstore.Config{
		"wrong password": {Username: server.Username, Password: server.Password + "x"},
		"unknown user":   {Username: "nobody", Password: server.Password},
		"no credentials": {},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg.ConnectionTimeout = 2 * time.Second
			_ = expectNewFails(t, server.Endpoints, cfg, kvstore.ErrPermissionDenied)
		})
	}
}

func expectNewFails(t *testing.T, eps []string, cfg *kvstore.Config, want error) error {
	t.Helper()
	var err error
	elapsed := within(t, cfg.ConnectionTimeout+slack, "New", func() {
		var st kvstore.Store
		if st, err = etcd.New(t.Context(), eps, cfg); err == nil {
			_ = st.Close()
		}
	})
	if !errors.Is(err, want) {
		t.Fatalf("New = %v, want %v", err, want)
	}
	t.Logf("New failed after %v: %v", elapsed.Round(time.Millisecond), err)
	return err
}

// exercise makes one call of each kind that needs the server's permission: plain, transactional,
// leased (TTL and lock) and streamed (watch).
func exercise(t *testing.T, st kvstore.Store) {
	t.Helper()
	dir := prefix(t)
	events, err := st.Watch(t.Context(), dir+"/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.MustPut(t, st, dir+"/k", "v", nil)
	if pair, ok := kvtest.Receive(t, events, 10*time.Second, "Watch"); !ok || pair == nil || string(pair.Value) != "v" {
		t.Fatalf("Watch = %v, %v; want v", pair, ok)
	}
	if ok, _, err := st.AtomicPut(t.Context(), dir+"/new", []byte("x"), nil, &kvstore.WriteOptions{TTL: time.Minute}); !ok || err != nil {
		t.Fatalf("AtomicPut with TTL = %v, %v", ok, err)
	}
	if pairs, err := st.List(t.Context(), dir, nil); err != nil || len(pairs) != 2 {
		t.Fatalf("List = %v, %v; want 2 pairs", pairs, err)
	}
	lock, err := st.NewLock(t.Context(), dir+"/lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Lock(t.Context()); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := lock.Unlock(t.Context()); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}
