package zookeeper_test

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
	"github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

// connectBound is how much later than its ConnectionTimeout a failing New may return: closing the
// attempt waits up to 1 s for go-zookeeper's loop, plus scheduling on a loaded machine.
const connectBound = 3 * time.Second

// openStore opens a Store on endpoints, closed when the test ends.
func openStore(t *testing.T, endpoints []string, cfg *kvstore.Config) kvstore.Store {
	t.Helper()
	st, err := zookeeper.New(t.Context(), endpoints, cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", endpoints, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// expectNewFails checks that New fails with want within the connection timeout, and returns the
// error for further checks.
func expectNewFails(t *testing.T, endpoints []string, cfg *kvstore.Config, want error) error {
	t.Helper()
	start := time.Now()
	st, err := zookeeper.New(t.Context(), endpoints, cfg)
	took := time.Since(start)
	if err == nil {
		_ = st.Close()
		t.Fatalf("New(%v) succeeded, want %v", endpoints, want)
	}
	if !errors.Is(err, want) {
		t.Errorf("New(%v): %v, want %v", endpoints, err, want)
	}
	if limit := cfg.Timeout() + connectBound; took > limit {
		t.Errorf("New(%v) failed after %s, over its timeout %s", endpoints, took, cfg.Timeout())
	}
	t.Logf("New failed after %s: %v", took.Round(time.Millisecond), err)
	return err
}

// TestDeadEndpoint: nothing listens at the endpoint; New fails with ErrUnreachable within the
// connection timeout, naming the cause, and leaves no goroutine behind (TestMain checks).
func TestDeadEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	err = expectNewFails(t, []string{addr}, &kvstore.Config{ConnectionTimeout: 1500 * time.Millisecond}, kvstore.ErrUnreachable)
	if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("error does not say why: %v", err)
	}
}

// TestBadEndpoints: malformed endpoint lists are ErrInvalidOption, without touching the network.
func TestBadEndpoints(t *testing.T) {
	for name, eps := range map[string][]string{
		"none":           nil,
		"blank":          {" ", ""},
		"two chroots":    {"127.0.0.1:1/a", "127.0.0.1:2/b"},
		"invalid chroot": {"127.0.0.1:1/a/\ue000"},
	} {
		if _, err := zookeeper.New(t.Context(), eps, nil); !errors.Is(err, kvstore.ErrInvalidOption) {
			t.Errorf("%s: New(%q) = %v, want ErrInvalidOption", name, eps, err)
		}
	}
}

// TestTLS: a Store reaches a TLS-only server with the right client configuration; a client that
// does not trust the server's CA, or speaks plain TCP to the TLS port, fails within its timeout
// with an error that says why.
func TestTLS(t *testing.T) {
	server := testserver.ZooKeeper(t, testserver.WithTLS())
	st := openStore(t, server.Endpoints, &kvstore.Config{TLS: server.TLS})
	if err := st.Put(t.Context(), "tls/k", []byte("secret"), nil); err != nil {
		t.Fatalf("Put over TLS: %v", err)
	}
	if pair, err := st.Get(t.Context(), "tls/k", nil); err != nil || string(pair.Value) != "secret" {
		t.Fatalf("Get over TLS = %v, %v", pair, err)
	}

	t.Run("UnknownCA", func(t *testing.T) {
		other := testserver.NewCA(t).ClientTLS(t)
		err := expectNewFails(t, server.Endpoints, &kvstore.Config{TLS: other, ConnectionTimeout: 2 * time.Second}, kvstore.ErrUnreachable)
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error does not name the certificate problem: %v", err)
		}
	})
	t.Run("Plaintext", func(t *testing.T) {
		err := expectNewFails(t, server.Endpoints, &kvstore.Config{ConnectionTimeout: 2 * time.Second}, kvstore.ErrUnreachable)
		if !strings.Contains(err.Error(), "TLS") {
			t.Errorf("error does not suggest TLS: %v", err)
		}
	})
	t.Run("NoClientCertificate", func(t *testing.T) {
		cfg := server.TLS.Clone()
		cfg.Certificates = nil
		err := expectNewFails(t, server.Endpoints, &kvstore.Config{TLS: cfg, ConnectionTimeout: 2 * time.Second}, kvstore.ErrUnreachable)
		if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("error does not name the certificate problem: %v", err)
		}
	})
	t.Run("TLSToPlainPort", func(t *testing.T) {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: testserver.TLSServerName}
		err := expectNewFails(t, endpoints, &kvstore.Config{TLS: cfg, ConnectionTimeout: 2 * time.Second}, kvstore.ErrUnreachable)
		if !strings.Contains(err.Error(), "TLS") {
			t.Errorf("error does not name TLS: %v", err)
		}
	})
}

// TestDigestAuth: on a server that requires authentication, the nodes a Store creates carry an
// ACL for its own digest identity: another identity, or the same user with a wrong password, is
// refused with ErrPermissionDenied on reads, writes and below; the server's super user passes.
func TestDigestAuth(t *testing.T) {
	server := testserver.ZooKeeper(t, testserver.WithAuth())
	alice := openStore(t, server.Endpoints, &kvstore.Config{Username: "alice", Password: "right"})
	ctx := t.Context()
	if err := alice.Put(ctx, "auth/app/k", []byte("v"), nil); err != nil {
		t.Fatalf("Put as alice: %v", err)
	}
	if _, err := alice.Get(ctx, "auth/app/k", nil); err != nil {
		t.Fatalf("Get as alice: %v", err)
	}
	for name, cfg := range map[string]*kvstore.Config{
		"other user":     {Username: "bob", Password: "right"},
		"wrong password": {Username: "alice", Password: "wrong"},
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			st := openStore(t, server.Endpoints, cfg)
			_, err := st.Get(ctx, "auth/app/k", nil)
			expectDenied(t, "Get", err)
			expectDenied(t, "Put", st.Put(ctx, "auth/app/k", []byte("x"), nil))
			expectDenied(t, "Put below", st.Put(ctx, "auth/app/new", []byte("x"), nil))
			expectDenied(t, "Delete", st.Delete(ctx, "auth/app/k"))
			_, err = st.List(ctx, "auth", nil)
			expectDenied(t, "List", err)
		})
	}
	t.Run("no_credentials", func(t *testing.T) {
		err := expectNewFails(t, server.Endpoints, &kvstore.Config{ConnectionTimeout: 2 * time.Second}, kvstore.ErrPermissionDenied)
		if !strings.Contains(err.Error(), "Config.Username") {
			t.Errorf("error does not say what to set: %v", err)
		}
	})
	t.Run("lock", func(t *testing.T) {
		lock, err := alice.NewLock(ctx, "auth/lock", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lock.Lock(ctx); err != nil {
			t.Fatalf("Lock as alice: %v", err)
		}
		defer func() { _ = lock.Unlock(ctx) }()
		bob := openStore(t, server.Endpoints, &kvstore.Config{Username: "bob", Password: "right"})
		other, err := bob.NewLock(ctx, "auth/lock", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.Lock(ctx)
		expectDenied(t, "Lock as bob", err)
	})
	super := openStore(t, server.Endpoints, &kvstore.Config{Username: server.Username, Password: server.Password})
	if pair, err := super.Get(ctx, "auth/app/k", nil); err != nil || string(pair.Value) != "v" {
		t.Errorf("Get as the super user = %v, %v", pair, err)
	}
	if pair, err := alice.Get(ctx, "auth/app/k", nil); err != nil || string(pair.Value) != "v" {
		t.Errorf("alice's key after refused writes = %v, %v", pair, err)
	}
}

func expectDenied(t *testing.T, op string, err error) {
	t.Helper()
	if !errors.Is(err, kvstore.ErrPermissionDenied) {
		t.Errorf("%s: %v, want ErrPermissionDenied", op, err)
	}
}
