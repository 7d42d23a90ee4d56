// Package globals_test opens a Store on every backend, with TLS and credentials where the
// backend has them, and checks that none of them used or changed process-wide state: a library
// that swaps http.DefaultTransport breaks every other HTTP client of the program.
package globals_test

import (
	"context"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/boltdb"
	"github.com/kvmirror/kvmirror/kvstore/consul"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
	"github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

// spy is a RoundTripper that counts its uses and answers none.
type spy struct{ uses atomic.Int32 }

func (s *spy) RoundTrip(*http.Request) (*http.Response, error) {
	s.uses.Add(1)
	return nil, http.ErrNotSupported
}

func TestNoBackendTouchesProcessWideHTTP(t *testing.T) {
	servers := map[string]*testserver.Server{
		"etcd":      testserver.Etcd(t, testserver.WithTLS(), testserver.WithAuth()),
		"etcdv2":    testserver.EtcdV2(t, testserver.WithTLS(), testserver.WithAuth()),
		"consul":    testserver.Consul(t, testserver.WithTLS(), testserver.WithAuth()),
		"zookeeper": testserver.ZooKeeper(t, testserver.WithTLS(), testserver.WithAuth()),
	}
	opens := map[string]kvstore.OpenFunc{
		"etcd": etcd.New, "etcdv2": etcdv2.New, "consul": consul.New, "zookeeper": zookeeper.New,
	}

	// Swapped for the whole test: any use of the defaults by a backend is counted, any change seen.
	probe := &spy{}
	savedTransport, savedClient := http.DefaultTransport, *http.DefaultClient
	http.DefaultTransport, http.DefaultClient.Transport = probe, probe
	t.Cleanup(func() {
		http.DefaultTransport = savedTransport
		*http.DefaultClient = savedClient
	})

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for name, server := range servers {
		cfg := &kvstore.Config{
			TLS: server.TLS, Username: server.Username, Password: server.Password, Token: server.Token,
			ConnectionTimeout: 10 * time.Second,
		}
		store, err := opens[name](ctx, server.Endpoints, cfg)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := store.Put(ctx, "globals/key", []byte(name), nil); err != nil {
			t.Errorf("%s: Put: %v", name, err)
		}
		if err := store.Close(); err != nil {
			t.Errorf("%s: Close: %v", name, err)
		}
	}
	bolt, err := boltdb.New(ctx, []string{filepath.Join(t.TempDir(), "kv.db")}, &kvstore.Config{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.Close(); err != nil {
		t.Error(err)
	}

	if n := probe.uses.Load(); n != 0 {
		t.Errorf("http.DefaultTransport or http.DefaultClient was used %d times", n)
	}
	if http.DefaultTransport != probe || http.DefaultClient.Transport != probe ||
		http.DefaultClient.Timeout != savedClient.Timeout || http.DefaultClient.Jar != nil || http.DefaultClient.CheckRedirect != nil {
		t.Error("a backend changed http.DefaultTransport or http.DefaultClient")
	}
}
