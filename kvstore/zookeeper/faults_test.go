package zookeeper_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
	"github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

// Bounds of the fault tests. The servers here have a 500 ms tick, so sessions of 1 s and 2 s
// are honoured as asked; go-zookeeper notices a silent server after two thirds of the session
// timeout. The bounds add generous room for a JVM restart and a loaded 2-core machine: a missed
// event fails either way, only later.
const (
	faultBound = 20 * time.Second
	quiet      = 300 * time.Millisecond
)

// awaitValue receives from a watch until it reports value.
func awaitValue(t *testing.T, ch <-chan *kvstore.KVPair, value, what string) {
	t.Helper()
	deadline := time.After(faultBound)
	for {
		select {
		case p, ok := <-ch:
			if !ok {
				t.Fatalf("%s: watch closed", what)
			}
			if p != nil && string(p.Value) == value {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no event with %q within %s", what, value, faultBound)
		}
	}
}

// awaitListing receives from a WatchTree until a listing holds key.
func awaitListing(t *testing.T, ch <-chan []*kvstore.KVPair, key, what string) {
	t.Helper()
	deadline := time.After(faultBound)
	for {
		select {
		case pairs, ok := <-ch:
			if !ok {
				t.Fatalf("%s: watch closed", what)
			}
			for _, p := range pairs {
				if p.Key == key {
					return
				}
			}
		case <-deadline:
			t.Fatalf("%s: no listing with %q within %s", what, key, faultBound)
		}
	}
}

// TestSessionExpiry freezes the server past every session timeout. The lock holder is told while
// the server is still frozen (before it could give the lock to anyone), and after the server
// resumes, the Store's expired session is replaced and its watches report what changed.
func TestSessionExpiry(t *testing.T) {
	server := testserver.ZooKeeper(t)
	ctx := t.Context()
	cfg := &kvstore.Config{ConnectionTimeout: 2 * time.Second}
	st, writer := openStore(t, server.Endpoints, cfg), openStore(t, server.Endpoints, nil)
	if err := writer.Put(ctx, "expiry/k", []byte("before"), nil); err != nil {
		t.Fatal(err)
	}
	lock, err := st.NewLock(ctx, "expiry/lock", &kvstore.LockOptions{Value: []byte("a"), TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lost, err := lock.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	watch, err := st.Watch(ctx, "expiry/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	awaitValue(t, watch, "before", "first event")
	tree, err := st.WatchTree(ctx, "expiry/dir", nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.MustReceive(t, tree, faultBound, "first listing")

	server.Pause(t)
	kvtest.ExpectClosed(t, lost, 3*time.Second, "lost channel while the server is frozen")
	time.Sleep(3 * time.Second) // past the 2 s session of st and the 1 s one of the lock
	server.Resume(t)
	resumed := time.Now()

	if err := writer.Put(ctx, "expiry/k", []byte("after"), nil); err != nil {
		t.Fatal(err)
	}
	t.Logf("Put after resume: %s", time.Since(resumed))
	awaitValue(t, watch, "after", "Watch after the session expired")
	t.Logf("Watch after resume: %s", time.Since(resumed))
	if err := writer.Put(ctx, "expiry/dir/x", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	awaitListing(t, tree, "expiry/dir/x", "WatchTree after the session expired")
	if err := lock.Unlock(ctx); !errors.Is(err, kvstore.ErrNotLocked) {
		t.Errorf("Unlock of the lost lock: %v, want ErrNotLocked", err)
	}
	if _, err := lock.Lock(ctxFor(t, faultBound)); err != nil {
		t.Errorf("Lock again after the expiry: %v", err)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestServerRestartWithLock kills the server while a lock is held and a waiter is queued, and
// starts it again: the holder is told at once, the waiter gets the lock once the old holder's
// session is gone, and never while the holder still believed it held the lock.
func TestServerRestartWithLock(t *testing.T) {
	server := testserver.ZooKeeper(t)
	ctx := t.Context()
	cfg := &kvstore.Config{ConnectionTimeout: 2 * time.Second}
	a, b := openStore(t, server.Endpoints, cfg), openStore(t, server.Endpoints, cfg)
	opts := func(v string) *kvstore.LockOptions {
		return &kvstore.LockOptions{Value: []byte(v), TTL: 2 * time.Second}
	}
	holder, _ := a.NewLock(ctx, "restart/lock", opts("a"))
	lostA, err := holder.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waiter, _ := b.NewLock(ctx, "restart/lock", opts("b"))
	type result struct {
		lost        <-chan struct{}
		err         error
		holderAlive bool
	}
	done := make(chan result, 1)
	go func() {
		lost, err := waiter.Lock(ctxFor(t, 2*faultBound))
		done <- result{lost, err, !kvtest.IsClosed(lostA)}
	}()
	select {
	case r := <-done:
		t.Fatalf("waiter returned while the lock was held: %v", r.err)
	case <-time.After(quiet):
	}

	server.Kill(t)
	kvtest.ExpectClosed(t, lostA, 3*time.Second, "holder's lost channel after the server died")
	server.Start(t)
	r := kvtest.MustReceive(t, done, 2*faultBound, "waiter after the restart")
	if r.err != nil {
		t.Fatalf("waiter: %v", r.err)
	}
	if r.holderAlive {
		t.Error("the waiter acquired while the old holder's lost channel was still open")
	}
	if pair, err := a.Get(ctx, "restart/lock", nil); err != nil || string(pair.Value) != "b" {
		t.Errorf("lock key after the hand-over = %v, %v; want b", pair, err)
	}
	if err := waiter.Unlock(ctx); err != nil {
		t.Errorf("Unlock: %v", err)
	}
}

// TestStalledServer: with the network stalled, calls fail with ErrUnreachable within the
// connection timeout rather than hang; once it flows again the Store and its watch carry on.
func TestStalledServer(t *testing.T) {
	proxy := testserver.NewProxy(t, endpoints[0])
	ctx := t.Context()
	st := openStore(t, []string{proxy.Addr()}, &kvstore.Config{ConnectionTimeout: 2 * time.Second})
	direct := openStore(t, endpoints, nil)
	key := "stall-" + rand.Text()[:8] + "/k"
	if err := st.Put(ctx, key, []byte("v1"), nil); err != nil {
		t.Fatal(err)
	}
	watch, err := st.Watch(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	awaitValue(t, watch, "v1", "first event")

	proxy.Stall()
	start := time.Now()
	_, err = st.Get(ctx, key, nil)
	if !errors.Is(err, kvstore.ErrUnreachable) {
		t.Errorf("Get while stalled: %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took > 2*time.Second+connectBound {
		t.Errorf("Get while stalled returned after %s", took)
	}
	if err := direct.Put(ctx, key, []byte("v2"), nil); err != nil {
		t.Fatal(err)
	}
	proxy.Resume()
	awaitValue(t, watch, "v2", "Watch after the stall")
	if pair, err := st.Get(ctx, key, nil); err != nil || string(pair.Value) != "v2" {
		t.Errorf("Get after the stall = %v, %v", pair, err)
	}
}

// TestCutConnections: connections reset under a Store are re-established inside; calls after
// the reconnection succeed and the watch goes on.
func TestCutConnections(t *testing.T) {
	proxy := testserver.NewProxy(t, endpoints[0])
	ctx := t.Context()
	st := openStore(t, []string{proxy.Addr()}, nil)
	direct := openStore(t, endpoints, nil)
	dir := "cut-" + rand.Text()[:8]
	tree, err := st.WatchTree(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.MustReceive(t, tree, faultBound, "first listing")
	for i := range 3 {
		proxy.Cut()
		key := dir + "/" + string(rune('a'+i))
		if err := direct.Put(ctx, key, []byte("v"), nil); err != nil {
			t.Fatal(err)
		}
		awaitListing(t, tree, key, "WatchTree after a cut")
	}
	deadline := time.Now().Add(faultBound)
	for {
		_, err := st.Get(ctx, dir+"/a", nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get after the cuts: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCloseWhileServerDown: Close with the server gone returns promptly, closing the watch
// channels and the lost channel; nothing is left running (TestMain checks).
func TestCloseWhileServerDown(t *testing.T) {
	server := testserver.ZooKeeper(t)
	ctx := t.Context()
	st, err := zookeeper.New(ctx, server.Endpoints, &kvstore.Config{ConnectionTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lock, _ := st.NewLock(ctx, "down/lock", nil)
	lost, err := lock.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	watch, err := st.Watch(ctx, "down/k", nil)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := st.WatchTree(ctx, "down", nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.MustReceive(t, tree, faultBound, "first listing")
	server.Kill(t)
	start := time.Now()
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took > connectBound {
		t.Errorf("Close with the server down took %s", took)
	}
	kvtest.ExpectClosed(t, lost, time.Second, "lost channel after Close")
	for range watch {
	}
	for range tree {
	}
}
