package consul_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/consul"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// openFails opens a Store that must fail with want, fast: a refused certificate or token is
// final, so New must not retry it until its timeout (10s here).
func openFails(t *testing.T, what string, eps []string, cfg *kvstore.Config, want error, text string) {
	t.Helper()
	cfg.ConnectionTimeout = 10 * time.Second
	start := time.Now()
	st, err := consul.New(t.Context(), eps, cfg)
	took := time.Since(start)
	if err == nil {
		_ = st.Close()
		t.Fatalf("%s: New succeeded", what)
	}
	if !errors.Is(err, want) || !strings.Contains(err.Error(), text) {
		t.Errorf("%s: New: %v; want %v mentioning %q", what, err, want, text)
	}
	if took > 5*time.Second {
		t.Errorf("%s: New took %s to fail; a final refusal should not be retried", what, took)
	}
	t.Logf("%s: failed after %s: %v", what, took.Round(time.Millisecond), err)
}

// TestTLS: the server's CA and client certificate work; another CA, a missing client
// certificate, TLS against a plain server and plain HTTP against a TLS server fail clearly.
func TestTLS(t *testing.T) {
	srv := testserver.Consul(t, testserver.WithTLS())
	before := http.DefaultTransport.(*http.Transport).TLSClientConfig

	st := open(t, srv.Endpoints, &kvstore.Config{TLS: srv.TLS})
	key := dirFor(t) + "/k"
	kvtest.MustPut(t, st, key, "over TLS", nil)
	pair, err := st.Get(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectValue(t, "Get over TLS", pair, "over TLS")
	lock, _ := st.NewLock(t.Context(), key+"-lock", nil)
	if _, err := lock.Lock(t.Context()); err != nil {
		t.Fatalf("Lock over TLS: %v", err)
	}

	openFails(t, "another CA", srv.Endpoints, &kvstore.Config{TLS: testserver.NewCA(t).ClientTLS(t)}, kvstore.ErrUnreachable, "certificate")
	openFails(t, "wrong server name", srv.Endpoints, &kvstore.Config{TLS: tlsConfigFor(srv.TLS, "other.example")}, kvstore.ErrUnreachable, "certificate")
	noCert := srv.TLS.Clone()
	noCert.Certificates = nil
	openFails(t, "no client certificate", srv.Endpoints, &kvstore.Config{TLS: noCert}, kvstore.ErrUnreachable, "tls")
	openFails(t, "TLS to a plain server", endpoints, &kvstore.Config{TLS: srv.TLS}, kvstore.ErrUnreachable, "does not speak TLS")
	openFails(t, "plain HTTP to a TLS server", srv.Endpoints, &kvstore.Config{}, kvstore.ErrUnreachable, "set Config.TLS")
	openFails(t, "explicit http:// with TLS", []string{"http://" + srv.Endpoints[0]}, &kvstore.Config{TLS: srv.TLS}, kvstore.ErrInvalidOption, "plain HTTP")

	if after := http.DefaultTransport.(*http.Transport).TLSClientConfig; after != before {
		t.Error("http.DefaultTransport's TLS configuration changed")
	}
	if srv.TLS.Certificates == nil || srv.TLS.RootCAs == nil {
		t.Error("the caller's tls.Config was changed")
	}
}

// TestACL: with ACLs on and default deny, the right token works, a wrong one is refused by New,
// and no token is refused by every call, as kvstore.ErrPermissionDenied within the timeout.
func TestACL(t *testing.T) {
	srv := testserver.Consul(t, testserver.WithAuth())
	st := open(t, srv.Endpoints, &kvstore.Config{Token: srv.Token})
	key := dirFor(t) + "/k"
	kvtest.MustPut(t, st, key, "authorised", nil)
	ch, err := st.Watch(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := kvtest.Receive(t, ch, 5*time.Second, "current value")
	expectValue(t, "watch event", ev, "authorised")
	lock, _ := st.NewLock(t.Context(), key+"-lock", nil)
	if _, err := lock.Lock(t.Context()); err != nil {
		t.Fatalf("Lock with the token: %v", err)
	}

	openFails(t, "wrong token", srv.Endpoints, &kvstore.Config{Token: "00000000-0000-4000-8000-000000000000"}, kvstore.ErrPermissionDenied, "ACL not found")

	anonymous := open(t, srv.Endpoints, &kvstore.Config{ConnectionTimeout: 2 * time.Second})
	denied := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, kvstore.ErrPermissionDenied) {
			t.Errorf("%s without a token: %v, want ErrPermissionDenied", op, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = anonymous.Get(ctx, key, nil)
	denied("Get", err)
	denied("Put", anonymous.Put(ctx, key, []byte("x"), nil))
	_, err = anonymous.List(ctx, key, nil)
	denied("List", err)
	_, err = anonymous.Watch(ctx, key, nil)
	denied("Watch", err)
	anonLock, _ := anonymous.NewLock(ctx, key+"-anon", nil)
	_, err = anonLock.Lock(ctx)
	denied("Lock", err)
	_, err = anonymous.Get(ctx, key, nil)
	denied("Get", err)
}

// tlsConfigFor returns a copy of cfg with another server name, to provoke a name mismatch.
func tlsConfigFor(cfg *tls.Config, name string) *tls.Config {
	c := cfg.Clone()
	c.ServerName = name
	return c
}
