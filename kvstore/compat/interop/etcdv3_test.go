package interop_test

import (
	"context"
	"slices"
	"testing"

	"github.com/kvtools/etcdv3"
	vstore "github.com/kvtools/valkeyrie/store"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

func openEtcd(ctx context.Context, t *testing.T, endpoints []string, layout string) kvstore.Store {
	t.Helper()
	st, err := etcd.New(ctx, endpoints, &kvstore.Config{KeyLayout: layout})
	if err != nil {
		t.Fatalf("etcd.New(%s): %v", layout, err)
	}
	closeOnCleanup(t, st)
	return st
}

// TestValkeyrieEtcdV3 writes with kvtools/etcdv3 and reads with a plain-layout Store, and the
// reverse; a slash-layout Store sees neither.
func TestValkeyrieEtcdV3(t *testing.T) {
	ctx := t.Context()
	endpoints := testserver.Etcd(t).Endpoints
	old, err := etcdv3.New(ctx, endpoints, nil)
	if err != nil {
		t.Fatalf("etcdv3.New: %v", err)
	}
	closeOnCleanup(t, old)
	if err := old.Put(ctx, oldKey, []byte(oldValue), nil); err != nil {
		t.Fatalf("etcdv3 Put: %v", err)
	}
	plain := openEtcd(ctx, t, endpoints, kvstore.KeyLayoutPlain)
	readOld(ctx, t, plain)
	writeNew(ctx, t, plain)

	pair, err := old.Get(ctx, newKey, nil)
	if err != nil {
		t.Fatalf("etcdv3 Get(%q): %v", newKey, err)
	}
	if pair.Key != newKey || string(pair.Value) != newValue {
		t.Errorf("etcdv3 Get(%q) = %q=%q, want %q=%q", newKey, pair.Key, pair.Value, newKey, newValue)
	}
	pairs, err := old.List(ctx, newDir, nil)
	if err != nil {
		t.Fatalf("etcdv3 List(%q): %v", newDir, err)
	}
	got := keysValues(pairs, func(p *vstore.KVPair) (string, []byte) { return p.Key, p.Value })
	if want := []string{newKey + "=" + newValue}; !slices.Equal(got, want) {
		t.Errorf("etcdv3 List(%q) = %q, want %q", newDir, got, want)
	}

	slash := openEtcd(ctx, t, endpoints, kvstore.KeyLayoutSlash)
	_, err = slash.Get(ctx, oldKey, nil)
	notFound(t, "slash-layout Get of etcdv3's key", err)
	_, err = slash.List(ctx, oldDir, nil)
	notFound(t, "slash-layout List of etcdv3's directory", err)
}
