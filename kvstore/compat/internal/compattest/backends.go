package compattest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/boltdb"
	"github.com/kvmirror/kvmirror/kvstore/consul"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
	"github.com/kvmirror/kvmirror/kvstore/memstore"
	"github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

// Opener opens a new Store, a new client, on the backend it was returned for, failing t if it
// cannot. The caller closes the Store.
type Opener func(t *testing.T) kvstore.Store

// Backend is a backend the suites run on.
type Backend struct {
	// Name names the backend's subtest.
	Name string
	// Start starts the backend's server for t, stopped when t ends, and returns its Opener.
	Start func(t *testing.T) Opener
}

// newFunc is the signature of every backend's New.
type newFunc func(ctx context.Context, endpoints []string, cfg *kvstore.Config) (kvstore.Store, error)

// Backends returns the five kvstore backends and memstore.
func Backends() []Backend {
	return []Backend{
		{"etcd", server(testserver.Etcd, etcd.New)},
		{"etcdv2", server(testserver.EtcdV2, etcdv2.New)},
		{"consul", server(testserver.Consul, consul.New)},
		{"zookeeper", server(testserver.ZooKeeper, zookeeper.New)},
		{"boltdb", startBoltDB},
		{"memstore", startMemstore},
	}
}

// server returns the Start of a backend whose server start starts.
func server(start func(testing.TB, ...testserver.Option) *testserver.Server, open newFunc) func(*testing.T) Opener {
	return func(t *testing.T) Opener {
		endpoints := start(t).Endpoints
		return opener(open, endpoints, nil)
	}
}

// startBoltDB keeps the backend in a file of t's temporary folder, which every Store shares as
// clients of one server would.
func startBoltDB(t *testing.T) Opener {
	path := filepath.Join(t.TempDir(), "kv.db")
	return opener(boltdb.New, []string{path}, &kvstore.Config{Bucket: "compat"})
}

func startMemstore(t *testing.T) Opener {
	backend := memstore.New()
	t.Cleanup(backend.Close)
	return func(*testing.T) kvstore.Store { return backend.Open() }
}

func opener(open newFunc, endpoints []string, cfg *kvstore.Config) Opener {
	return func(t *testing.T) kvstore.Store {
		t.Helper()
		// Not t's context: the suites' stores outlive the subtest that opens them (see the
		// adapters' suite tests).
		st, err := open(context.Background(), endpoints, cfg)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		return st
	}
}
