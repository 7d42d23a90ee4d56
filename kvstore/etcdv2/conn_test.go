package etcdv2_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// failBound is how late past the connection timeout a failure may come: scheduling on a loaded
// 2-core machine under -race, not a second timeout.
const failBound = 2 * time.Second

// openErr opens a Store that must fail, and checks that it fails in time.
func openErr(t *testing.T, endpoints []string, cfg *kvstore.Config) error {
	t.Helper()
	start := time.Now()
	st, err := etcdv2.New(t.Context(), endpoints, cfg)
	if err == nil {
		_ = st.Close()
		t.Fatal("New succeeded, want an error")
	}
	if took := time.Since(start); took > cfg.Timeout()+failBound {
		t.Errorf("New failed after %s, connection timeout %s", took, cfg.Timeout())
	}
	t.Logf("New: %v", err)
	return err
}

// roundTrip checks that a Store works: a write, a read, a watch event and a lock.
func roundTrip(t *testing.T, st kvstore.Store) {
	t.Helper()
	ctx := t.Context()
	key := prefix(t) + "/k"
	ch, err := st.Watch(ctx, key, nil)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if err := st.Put(ctx, key, []byte("v"), nil); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if p, err := st.Get(ctx, key, nil); err != nil || string(p.Value) != "v" {
		t.Fatalf("Get = %v, %v", p, err)
	}
	select {
	case p := <-ch:
		if p == nil || string(p.Value) != "v" {
			t.Errorf("watch event = %v", p)
		}
	case <-time.After(10 * time.Second):
		t.Error("no watch event")
	}
	lock, err := st.NewLock(ctx, key+"-lock", &kvstore.LockOptions{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Lock(ctx); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if err := lock.Unlock(ctx); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
}

func TestTLS(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t, testserver.WithTLS())
	cfg := &kvstore.Config{TLS: server.TLS, ConnectionTimeout: testTimeout}
	t.Run("Works", func(t *testing.T) {
		roundTrip(t, open(t, server, cfg))
	})
	t.Run("WrongCA", func(t *testing.T) {
		bad := server.TLS.Clone()
		bad.RootCAs = testserver.NewCA(t).Pool()
		err := openErr(t, server.Endpoints, &kvstore.Config{TLS: bad, ConnectionTimeout: testTimeout})
		var unknown x509.UnknownAuthorityError
		if !errors.Is(err, kvstore.ErrUnreachable) || !errors.As(err, &unknown) {
			t.Errorf("New with the wrong CA: %v; want ErrUnreachable wrapping x509.UnknownAuthorityError", err)
		}
	})
	t.Run("NoClientCertificate", func(t *testing.T) {
		bad := server.TLS.Clone()
		bad.Certificates = nil
		err := openErr(t, server.Endpoints, &kvstore.Config{TLS: bad, ConnectionTimeout: testTimeout})
		if !errors.Is(err, kvstore.ErrUnreachable) {
			t.Errorf("New without a client certificate: %v; want ErrUnreachable", err)
		}
	})
	t.Run("PlainHTTP", func(t *testing.T) {
		err := openErr(t, server.Endpoints, &kvstore.Config{ConnectionTimeout: testTimeout})
		if !errors.Is(err, kvstore.ErrUnreachable) {
			t.Errorf("New over plain HTTP to a TLS port: %v; want ErrUnreachable", err)
		}
	})
}

func TestAuth(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t, testserver.WithAuth())
	cfg := func(user, password string) *kvstore.Config {
		return &kvstore.Config{Username: user, Password: password, ConnectionTimeout: testTimeout}
	}
	t.Run("Works", func(t *testing.T) {
		roundTrip(t, open(t, server, cfg(server.Username, server.Password)))
	})
	for name, c := range map[string]*kvstore.Config{
		"WrongPassword": cfg(server.Username, server.Password+"x"),
		"UnknownUser":   cfg("nobody", server.Password),
		"NoCredentials": cfg("", ""),
	} {
		t.Run(name, func(t *testing.T) {
			err := openErr(t, server.Endpoints, c)
			if !errors.Is(err, kvstore.ErrPermissionDenied) {
				t.Errorf("New: %v; want ErrPermissionDenied", err)
			}
		})
	}
}

// TestUnreachable: a dead endpoint, and a server that accepts connections but answers nothing,
// fail New and calls with ErrUnreachable within the connection timeout, never a hang.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	cfg := &kvstore.Config{ConnectionTimeout: time.Second}
	t.Run("NoServer", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close() // nothing listens there any more
		if err := openErr(t, []string{addr}, cfg); !errors.Is(err, kvstore.ErrUnreachable) {
			t.Errorf("New: %v; want ErrUnreachable", err)
		}
	})
	t.Run("PausedServer", func(t *testing.T) {
		server := testserver.EtcdV2(t)
		st := open(t, server, cfg)
		server.Pause(t)
		defer server.Resume(t)
		if err := openErr(t, server.Endpoints, cfg); !errors.Is(err, kvstore.ErrUnreachable) {
			t.Errorf("New: %v; want ErrUnreachable", err)
		}
		start := time.Now()
		_, err := st.Get(t.Context(), "k", nil)
		if !errors.Is(err, kvstore.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Get on a paused server: %v; want ErrUnreachable, not the caller's deadline", err)
		}
		if took := time.Since(start); took > cfg.Timeout()+failBound {
			t.Errorf("Get failed after %s", took)
		}
	})
}

// TestNoV2API: an endpoint that is HTTP but not the v2 keys API says so.
func TestNoV2API(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	cfg := &kvstore.Config{ConnectionTimeout: testTimeout}
	err := openErr(t, []string{"http://" + server.Endpoints[0] + "/nothing-here"}, cfg)
	if !errors.Is(err, kvstore.ErrUnreachable) || !strings.Contains(err.Error(), "v2") {
		t.Errorf("New on a path without the v2 API: %v", err)
	}
}

// TestDefaultTransportUntouched: a Store uses its own transport from New to Close, never
// http.DefaultTransport nor the etcd client's DefaultTransport, and changes neither. Both are
// replaced for the test by transports that fail the test when used; the test is not parallel.
func TestDefaultTransportUntouched(t *testing.T) {
	server := testserver.EtcdV2(t)
	oldHTTP, oldClient, oldDefaultClient := http.DefaultTransport, client.DefaultTransport, *http.DefaultClient
	oldDefaultClient.CheckRedirect = nil // funcs cannot be compared; nothing sets it
	trap := &trapTransport{t: t}
	http.DefaultTransport, client.DefaultTransport = trap, trap
	defer func() { http.DefaultTransport, client.DefaultTransport = oldHTTP, oldClient }()

	st := open(t, server, nil)
	roundTrip(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if http.DefaultTransport != trap || client.DefaultTransport != trap {
		t.Error("a default transport was replaced")
	}
	if now := *http.DefaultClient; now.CheckRedirect != nil || now.Transport != oldDefaultClient.Transport ||
		now.Jar != oldDefaultClient.Jar || now.Timeout != oldDefaultClient.Timeout {
		t.Error("http.DefaultClient was changed")
	}
	if oldHTTP.(*http.Transport).TLSClientConfig != nil {
		t.Error("http.DefaultTransport got a TLS configuration")
	}
}

type trapTransport struct{ t *testing.T }

func (tr *trapTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	tr.t.Errorf("a default transport was used for %s %s", req.Method, req.URL)
	return nil, fmt.Errorf("trap transport")
}

func (tr *trapTransport) CancelRequest(*http.Request) {}

// TestOpenURL: importing the package registers it, so a store URL opens it.
func TestOpenURL(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	st, err := kvstore.OpenURL(t.Context(), "etcdv2://"+server.Endpoints[0]+"/?timeout=5s", nil)
	if err != nil {
		t.Fatalf("OpenURL: %v", err)
	}
	defer func() { _ = st.Close() }()
	if _, ok := st.(*etcdv2.Store); !ok {
		t.Fatalf("OpenURL returned a %T", st)
	}
	key := prefix(t) + "/k"
	kvtest.MustPut(t, st, key, "v", nil)
	if p := kvtest.MustGet(t, st, key); string(p.Value) != "v" {
		t.Errorf("Get = %v", p)
	}
}
