package testserver_test

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// consulClient opens a Consul client on its own transport, closed at the end of the test so
// that no idle connection outlives it.
func consulClient(t *testing.T, s *testserver.Server, token string) *api.Client {
	t.Helper()
	return consulClientTLS(t, s.Endpoints[0], s.TLS, token)
}

func consulClientTLS(t *testing.T, addr string, tlsCfg *tls.Config, token string) *api.Client {
	t.Helper()
	tr := &http.Transport{}
	cfg := &api.Config{Address: addr, Scheme: "http", Token: token}
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg.Clone()
		cfg.Scheme = "https"
	}
	cfg.HttpClient = &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatalf("consul client: %v", err)
	}
	return c
}

func consulPutGet(t *testing.T, c *api.Client) error {
	t.Helper()
	q := (&api.WriteOptions{}).WithContext(t.Context())
	if _, err := c.KV().Put(&api.KVPair{Key: "smoke/key", Value: []byte("value")}, q); err != nil {
		return err
	}
	kv, _, err := c.KV().Get("smoke/key", (&api.QueryOptions{}).WithContext(t.Context()))
	if err != nil {
		return err
	}
	if kv == nil || !bytes.Equal(kv.Value, []byte("value")) {
		t.Fatalf("get: %+v", kv)
	}
	return nil
}

func TestConsul(t *testing.T) {
	t.Parallel()
	s := testserver.Consul(t)
	c := consulClient(t, s, "")
	if err := consulPutGet(t, c); err != nil {
		t.Fatal(err)
	}
	// Sessions need the node in the catalog; the starter waits for it.
	id, _, err := c.Session().Create(&api.SessionEntry{TTL: "1s"}, (&api.WriteOptions{}).WithContext(t.Context()))
	if err != nil {
		t.Fatalf("1s session (session_ttl_min): %v", err)
	}
	t.Logf("session %s", id)

	// Unlike `consul agent -dev`, the data survives a restart.
	s.Stop(t)
	s.Start(t)
	kv, _, err := c.KV().Get("smoke/key", (&api.QueryOptions{}).WithContext(t.Context()))
	if err != nil || kv == nil {
		t.Fatalf("after restart: %+v, %v", kv, err)
	}
}

func TestConsulTLSAuth(t *testing.T) {
	t.Parallel()
	s := testserver.Consul(t, testserver.WithTLS(), testserver.WithAuth())
	if s.Token == "" || s.TLS == nil {
		t.Fatalf("token/TLS not set: %+v", s)
	}
	if err := consulPutGet(t, consulClient(t, s, s.Token)); err != nil {
		t.Fatal(err)
	}
	for name, token := range map[string]string{"no token": "", "wrong token": "00000000-0000-4000-8000-000000000000"} {
		err := consulPutGet(t, consulClient(t, s, token))
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("%s: got %v, want a 403", name, err)
		}
	}

	wrongCA := testserver.NewCA(t).ClientTLS(t)
	if err := consulPutGet(t, consulClientTLS(t, s.Endpoints[0], wrongCA, s.Token)); err == nil {
		t.Error("a client that trusts another CA got an answer")
	} else {
		t.Logf("wrong CA: %v", err)
	}
	noCert := s.TLS.Clone()
	noCert.Certificates = nil
	if err := consulPutGet(t, consulClientTLS(t, s.Endpoints[0], noCert, s.Token)); err == nil {
		t.Error("a client without a certificate got an answer (verify_incoming)")
	}
}
