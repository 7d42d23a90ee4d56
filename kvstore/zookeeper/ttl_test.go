package zookeeper_test

import (
	"crypto/rand"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
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

// TestTTLExpiryStockSweep: on a server that sweeps expired TTL nodes once a minute (the stock
// interval, as the test server runs), a key with a 2 s TTL is gone well before: Watch reports it
// deleted and WatchTree drops it without any other read, Get and List no longer see it, and the
// node is gone from the server, as zkCli shows. A key read only through Get goes as well.
func TestTTLExpiryStockSweep(t *testing.T) {
	t.Parallel()
	const ttl, bound = 2 * time.Second, 5 * time.Second
	st := openStore(t, endpoints, nil)
	ctx := t.Context()
	dir := "expiry-" + rand.Text()[:8]
	kvtest.MustPut(t, st, dir+"/stays", "s", nil)
	start := time.Now()
	for _, key := range []string{dir + "/k", dir + "-get/k"} {
		if err := st.Put(ctx, key, []byte("v"), &kvstore.WriteOptions{TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := st.Watch(ctx, dir+"/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := st.WatchTree(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := kvtest.MustReceive(t, ch, bound, "first event"); p == nil || string(p.Value) != "v" {
		t.Fatalf("first event = %+v, want the key", p)
	}
	kvtest.AwaitListing(t, tree, map[string]string{dir + "/k": "v", dir + "/stays": "s"}, bound, "first listing")
	if p := kvtest.MustReceive(t, ch, bound-time.Since(start), "event for the expiry"); p != nil {
		t.Fatalf("event for the expiry = %+v, want nil", p)
	}
	if gone := time.Since(start); gone < ttl/2 {
		t.Errorf("Watch reported the expiry %s after the write, before the TTL %s", gone, ttl)
	}
	kvtest.AwaitListing(t, tree, map[string]string{dir + "/stays": "s"}, bound-time.Since(start), "listing after the expiry")
	if _, err := st.Get(ctx, dir+"/k", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("Get after the expiry: %v, want ErrKeyNotFound", err)
	}
	if got := kvtest.Values(kvtest.MustList(t, st, dir)); !maps.Equal(got, map[string]string{dir + "/stays": "s"}) {
		t.Errorf("List after the expiry = %q, want only the permanent key", got)
	}

	reader := openStore(t, endpoints, nil)
	for {
		_, err := reader.Get(ctx, dir+"-get/k", nil)
		if errors.Is(err, kvstore.ErrKeyNotFound) {
			break
		}
		if err != nil || time.Since(start) > bound {
			t.Fatalf("Get of the key read only by Get, %s after the write: %v", time.Since(start), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := testserver.ZkCli(t, endpoints, "ls /"+dir, "ls /"+dir+"-get"); got != "[stays]\n[]\n" {
		t.Errorf("zkCli ls after the expiries = %q, want the expired nodes gone", got)
	}
}
