package etcd_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvmirror/kvmirror/kvstore"
)

// waiters counts the waiter keys of the lock on key, as doc.go lays them out.
func waiters(t *testing.T, raw *clientv3.Client, key string) int64 {
	t.Helper()
	resp, err := raw.Get(t.Context(), "\x00kvmirror/locks/"+key+"\x00", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// eventually fails unless cond holds within bound.
func eventually(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLockBookkeeping: waiter keys exist only while their contender waits or holds, never show
// in List (not even of the root), and are removed by Unlock, by a Lock whose context ended and
// by Close: an abandoned attempt must not block the queue until its lease expires.
func TestLockBookkeeping(t *testing.T) {
	t.Parallel()
	raw := rawClient(t, endpoints)
	a, b := open(t, endpoints, nil), open(t, endpoints, nil)
	key := prefix(t) + "/lock"
	opts := &kvstore.LockOptions{Value: []byte("a"), TTL: time.Minute}
	lockA, _ := a.NewLock(t.Context(), key, opts)
	lockB, _ := b.NewLock(t.Context(), key, opts)
	if _, err := lockA.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := lockB.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock with an ending context = %v, want DeadlineExceeded", err)
	}
	if n := waiters(t, raw, key); n != 1 {
		t.Fatalf("%d waiter keys after a cancelled Lock, want 1", n)
	}

	waiting := make(chan error, 1)
	go func() {
		_, err := lockB.Lock(t.Context())
		waiting <- err
	}()
	eventually(t, 10*time.Second, "second waiter key", func() bool { return waiters(t, raw, key) == 2 })
	pairs, err := a.List(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pairs {
		if strings.ContainsAny(p.Key, "\x00") || strings.Contains(p.Key, "kvmirror/locks") {
			t.Errorf("List of the root shows lock bookkeeping: %q", p.Key)
		}
	}

	if err := lockA.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-waiting; err != nil {
		t.Fatalf("waiting Lock: %v", err)
	}
	if n := waiters(t, raw, key); n != 1 {
		t.Fatalf("%d waiter keys after Unlock, want 1", n)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := waiters(t, raw, key); n != 0 {
		t.Fatalf("%d waiter keys after Close, want 0", n)
	}
	if _, err := a.Get(t.Context(), key, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Fatalf("Get of the lock key after Close = %v, want ErrKeyNotFound", err)
	}
}

// TestLockFairness: contenders get the lock in the order they started waiting.
func TestLockFairness(t *testing.T) {
	t.Parallel()
	const contenders = 4
	raw := rawClient(t, endpoints)
	st := open(t, endpoints, nil)
	key := prefix(t) + "/lock"
	holder, _ := st.NewLock(t.Context(), key, nil)
	if _, err := holder.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	for i := range contenders {
		lock, _ := open(t, endpoints, nil).NewLock(t.Context(), key, nil)
		wg.Go(func() {
			if _, err := lock.Lock(t.Context()); err != nil {
				t.Errorf("contender %d: %v", i, err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			if err := lock.Unlock(t.Context()); err != nil {
				t.Errorf("contender %d: Unlock: %v", i, err)
			}
		})
		// The next contender starts once this one is queued.
		eventually(t, 10*time.Second, "waiter key", func() bool { return waiters(t, raw, key) == int64(i+2) })
	}
	if err := holder.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, got := range order {
		if got != i {
			t.Fatalf("contenders took the lock in the order %v, want 0..%d", order, contenders-1)
		}
	}
}
