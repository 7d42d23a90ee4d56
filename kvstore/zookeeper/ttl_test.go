package zookeeper_test

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestTTLDisabled: a server started without zookeeper.extendedTypesEnabled refuses TTL nodes;
// Put and AtomicPut with a TTL then fail with ErrCallNotSupported, naming the server setting, and
// write nothing. Locks do not need TTL nodes and work.
func TestTTLDisabled(t *testing.T) {
	st := openStore(t, testserver.ZooKeeper(t, testserver.WithoutTTLNodes()).Endpoints, nil)
	ctx := t.Context()
	opts := &kvstore.WriteOptions{TTL: time.Minute}
	errs := map[string]error{"Put": st.Put(ctx, "ttl/k", []byte("v"), opts)}
	_, _, errs["AtomicPut"] = st.AtomicPut(ctx, "ttl/k", []byte("v"), nil, opts)
	for op, err := range errs {
		if !errors.Is(err, kvstore.ErrCallNotSupported) || !strings.Contains(err.Error(), "-Dzookeeper.extendedTypesEnabled=true") {
			t.Errorf("%s with TTL: %v; want ErrCallNotSupported naming the server setting", op, err)
		}
	}
	if _, err := st.List(ctx, "ttl", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List after refused writes: %v, want ErrKeyNotFound", err)
	}
	lock, err := st.NewLock(ctx, "ttl/lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Lock(ctx); err != nil {
		t.Fatalf("Lock on a server without TTL nodes: %v", err)
	}
	if err := lock.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestNodeKindLimits: ZooKeeper cannot change whether a node has a TTL, or belongs to a lock,
// while it has children; such writes fail with ErrCallNotSupported and change nothing, and no key
// can be written below a held lock's key (ZooKeeper's ephemeral nodes have no children).
func TestNodeKindLimits(t *testing.T) {
	st := openStore(t, endpoints, nil)
	ctx := t.Context()
	dir := "limits-" + rand.Text()[:8]
	if err := st.Put(ctx, dir+"/parent/child", []byte("c"), nil); err != nil {
		t.Fatal(err)
	}
	err := st.Put(ctx, dir+"/parent", []byte("p"), &kvstore.WriteOptions{TTL: time.Minute})
	if !errors.Is(err, kvstore.ErrCallNotSupported) {
		t.Errorf("Put with TTL on a key with children: %v, want ErrCallNotSupported", err)
	}
	if _, err := st.Get(ctx, dir+"/parent", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("Get after the refused write: %v, want ErrKeyNotFound", err)
	}
	lock, err := st.NewLock(ctx, dir+"/lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Unlock(ctx) }()
	if err := st.Put(ctx, dir+"/lock/below", []byte("x"), nil); !errors.Is(err, kvstore.ErrCallNotSupported) {
		t.Errorf("Put below a held lock's key: %v, want ErrCallNotSupported", err)
	}
	if pair, err := st.Get(ctx, dir+"/parent/child", nil); err != nil || string(pair.Value) != "c" {
		t.Errorf("child after the refused writes = %v, %v", pair, err)
	}
}
