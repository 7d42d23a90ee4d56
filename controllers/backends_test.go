package controllers

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/boltdb"
	"github.com/kvmirror/kvmirror/kvstore/consul"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
	"github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

// fixture is one running backend: the spec a mirror uses to read it, a Store the test writes
// through, and the server process (nil for BoltDB) for outage tests.
type fixture struct {
	spec   v1alpha1.BackendSpec
	store  kvstore.Store
	server *testserver.Server
	// bucket and path locate the BoltDB file, for tests that write it raw.
	path, bucket string
	// maxValue is about the largest value the backend accepts (Consul: 512 KiB per request, with
	// the value base64-encoded).
	maxValue int
}

// backend starts one kind of backend for a test.
type backend struct {
	name  string
	start func(t *testing.T) *fixture
}

// backends are every backend the operator is tested against, each on a real server.
var backends = []backend{
	{name: "boltdb", start: startBoltDB},
	{name: "etcd", start: func(t *testing.T) *fixture {
		return networkFixture(t, v1alpha1.BackendEtcd, testserver.Etcd(t), etcd.New, 1<<20)
	}},
	{name: "etcdv2", start: func(t *testing.T) *fixture {
		return networkFixture(t, v1alpha1.BackendEtcdV2, testserver.EtcdV2(t), etcdv2.New, 1<<20)
	}},
	{name: "zookeeper", start: func(t *testing.T) *fixture {
		return networkFixture(t, v1alpha1.BackendZooKeeper, testserver.ZooKeeper(t), zookeeper.New, 1<<20)
	}},
	{name: "consul", start: func(t *testing.T) *fixture {
		return networkFixture(t, v1alpha1.BackendConsul, testserver.Consul(t), consul.New, 384<<10)
	}},
}

// startBoltDB makes a BoltDB file in a temporary folder. The manager reads it through its own
// Store; BoltDB Stores of one process see each other's writes and watches.
func startBoltDB(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "kv.db")
	const bucket = "mirror"
	store, err := boltdb.New(t.Context(), []string{path}, &kvstore.Config{Bucket: bucket})
	if err != nil {
		t.Fatalf("boltdb: %v", err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("boltdb file: %v", err)
	}
	return &fixture{
		spec:  v1alpha1.BackendSpec{Type: v1alpha1.BackendBoltDB, Endpoints: []string{path}, Bucket: bucket},
		store: store, path: path, bucket: bucket, maxValue: 1 << 20,
	}
}

func networkFixture(t *testing.T, typ v1alpha1.BackendType, srv *testserver.Server,
	open func(ctx context.Context, endpoints []string, cfg *kvstore.Config) (kvstore.Store, error), maxValue int,
) *fixture {
	t.Helper()
	store, err := open(t.Context(), srv.Endpoints, &kvstore.Config{TLS: srv.TLS,
		Username: srv.Username, Password: srv.Password, Token: srv.Token})
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return &fixture{
		spec:   v1alpha1.BackendSpec{Type: typ, Endpoints: srv.Endpoints},
		store:  store,
		server: srv,
		// Stay below the server's own request limit, which counts the key and framing too.
		maxValue: maxValue - 4096,
	}
}
