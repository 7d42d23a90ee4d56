package etcdv2_test

import (
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// testTimeout is the connection timeout of the tests' Stores: short enough that an outage test
// ends soon, long enough for a loaded 2-core machine running several servers.
const testTimeout = 5 * time.Second

// open opens a Store on server that the test closes.
func open(t *testing.T, server *testserver.Server, cfg *kvstore.Config) kvstore.Store {
	t.Helper()
	if cfg == nil {
		cfg = &kvstore.Config{ConnectionTimeout: testTimeout}
	}
	st, err := etcdv2.New(t.Context(), server.Endpoints, cfg)
	if err != nil {
		t.Fatalf("etcdv2.New: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestConformance runs the kvstore conformance suite against etcd 3.4's v2 API. The v2 API
// supports everything: TTLs natively, watches, and locks built on TTL'd nodes.
func TestConformance(t *testing.T) {
	server := testserver.EtcdV2(t)
	kvtest.Suite{
		New: func(t *testing.T) kvstore.Store { return open(t, server, nil) },
	}.Run(t)
}
