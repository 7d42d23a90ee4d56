package testserver_test

import (
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// etcdV2Keys opens a v2 keys API on its own transport, closed at the end of the test.
func etcdV2Keys(t *testing.T, s *testserver.Server, tlsCfg *tls.Config, user, password string) client.KeysAPI {
	t.Helper()
	tr := &http.Transport{}
	scheme := "http://"
	if tlsCfg != nil {
		tr.TLSClientConfig = tlsCfg.Clone()
		scheme = "https://"
	}
	t.Cleanup(tr.CloseIdleConnections)
	c, err := client.New(client.Config{
		Endpoints:               []string{scheme + s.Endpoints[0]},
		Transport:               tr,
		Username:                user,
		Password:                password,
		HeaderTimeoutPerRequest: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("v2 client: %v", err)
	}
	return client.NewKeysAPI(c)
}

func etcdV2SetGet(t *testing.T, kapi client.KeysAPI) error {
	t.Helper()
	if _, err := kapi.Set(t.Context(), "/smoke/key", "value", nil); err != nil {
		return err
	}
	resp, err := kapi.Get(t.Context(), "/smoke/key", nil)
	if err != nil {
		return err
	}
	if resp.Node.Value != "value" {
		t.Fatalf("get: %+v", resp.Node)
	}
	return nil
}

func TestEtcdV2(t *testing.T) {
	t.Parallel()
	s := testserver.EtcdV2(t)
	if err := etcdV2SetGet(t, etcdV2Keys(t, s, nil, "", "")); err != nil {
		t.Fatal(err)
	}
}

func TestEtcdV2TLSAuth(t *testing.T) {
	t.Parallel()
	s := testserver.EtcdV2(t, testserver.WithTLS(), testserver.WithAuth())
	if err := etcdV2SetGet(t, etcdV2Keys(t, s, s.TLS, s.Username, s.Password)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, user, password string
		tls                  *tls.Config
	}{
		{"wrong password", s.Username, "wrong", s.TLS},
		{"anonymous", "", "", s.TLS},
		{"wrong CA", s.Username, s.Password, testserver.NewCA(t).ClientTLS(t)},
	}
	for _, tc := range cases {
		err := etcdV2SetGet(t, etcdV2Keys(t, s, tc.tls, tc.user, tc.password))
		if err == nil {
			t.Errorf("%s: the server accepted the request", tc.name)
		} else {
			t.Logf("%s: %v", tc.name, err)
		}
	}
}
