package interop_test

import (
	"context"
	"slices"
	"testing"

	"github.com/docker/libkv/store"
	"github.com/docker/libkv/store/consul"
	"github.com/docker/libkv/store/zookeeper"

	"github.com/kvmirror/kvmirror/kvstore"
	kvconsul "github.com/kvmirror/kvmirror/kvstore/consul"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
	kvzookeeper "github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

// libkvCase is one libkv store and the kvstore backend of the same server.
type libkvCase struct {
	name    string
	start   func(testing.TB, ...testserver.Option) *testserver.Server
	libkv   func([]string, *store.Config) (store.Store, error)
	kvstore func(context.Context, []string, *kvstore.Config) (kvstore.Store, error)
	// getValue is what libkv's Get of newKey returns as its value; list is what its List of
	// newDir returns, as "key=value"; valueKey is the libkv key that holds newKey's value.
	getValue string
	list     []string
	valueKey string
}

func TestLibkv(t *testing.T) {
	cases := []libkvCase{
		{"consul", testserver.Consul, consul.New, kvconsul.New,
			newValue, []string{newKey + "=" + newValue}, newKey},
		// libkv's zookeeper List names children by their last segment only.
		{"zookeeper", testserver.ZooKeeper, zookeeper.New, kvzookeeper.New,
			newValue, []string{"db.port=" + newValue}, newKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { testLibkv(t, c) })
	}
}

// testLibkv writes with libkv and reads with kvstore, and the reverse.
func testLibkv(t *testing.T, c libkvCase) {
	ctx := t.Context()
	endpoints := c.start(t).Endpoints
	old, err := c.libkv(endpoints, nil)
	if err != nil {
		t.Fatalf("libkv New: %v", err)
	}
	t.Cleanup(old.Close)
	if err := old.Put(oldKey, []byte(oldValue), nil); err != nil {
		t.Fatalf("libkv Put: %v", err)
	}
	st, err := c.kvstore(ctx, endpoints, nil)
	if err != nil {
		t.Fatalf("kvstore New: %v", err)
	}
	closeOnCleanup(t, st)
	readOld(ctx, t, st)
	writeNew(ctx, t, st)

	pair, err := old.Get(newKey)
	if err != nil {
		t.Fatalf("libkv Get(%q): %v", newKey, err)
	}
	if pair.Key != newKey || string(pair.Value) != c.getValue {
		t.Errorf("libkv Get(%q) = %q=%q, want %q=%q", newKey, pair.Key, pair.Value, newKey, c.getValue)
	}
	if pair, err := old.Get(c.valueKey); err != nil || string(pair.Value) != newValue {
		t.Errorf("libkv Get(%q) = %v, %v, want value %q", c.valueKey, pair, err, newValue)
	}
	pairs, err := old.List(newDir)
	if err != nil {
		t.Fatalf("libkv List(%q): %v", newDir, err)
	}
	got := keysValues(pairs, func(p *store.KVPair) (string, []byte) { return p.Key, p.Value })
	if !slices.Equal(got, c.list) {
		t.Errorf("libkv List(%q) = %q, want %q", newDir, got, c.list)
	}
}
