package controllers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

// closeCounter is a Store stand-in for the pool's bookkeeping, which calls nothing but Close; the
// Store behaviour itself is tested against real servers by the suite.
type closeCounter struct {
	kvstore.Store
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

type opener struct {
	mu     sync.Mutex
	opened []*closeCounter
	fail   error
	delay  time.Duration
}

func (o *opener) open(ctx context.Context, _ string, _ []string, _ *kvstore.Config) (kvstore.Store, error) {
	select {
	case <-time.After(o.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return nil, o.fail
	}
	s := &closeCounter{}
	o.opened = append(o.opened, s)
	return s, nil
}

func (o *opener) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.opened)
}

func cfgWithKey(key string) *backendConfig {
	return &backendConfig{backend: "test", key: key, label: "test://" + key}
}

func TestPoolSharesAndCloses(t *testing.T) {
	o := &opener{}
	p := newPool(o.open)
	a, err := p.acquire(t.Context(), cfgWithKey("one"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.acquire(t.Context(), cfgWithKey("one"))
	if err != nil {
		t.Fatal(err)
	}
	c := a.retain()
	if a.Store() != b.Store() || o.count() != 1 {
		t.Fatalf("same key opened %d Stores, want 1 shared", o.count())
	}
	other, err := p.acquire(t.Context(), cfgWithKey("two"))
	if err != nil {
		t.Fatal(err)
	}
	if other.Store() == a.Store() || p.size() != 2 {
		t.Fatalf("a different key must get its own Store")
	}

	store := a.Store().(*closeCounter)
	a.Release()
	a.Release() // idempotent: must not drop b's or c's reference
	b.Release()
	if store.closed.Load() != 0 {
		t.Fatalf("closed while a lease remains")
	}
	c.Release()
	if store.closed.Load() != 1 || p.size() != 1 {
		t.Fatalf("closed %d times, pool size %d; want 1 close and only key two left", store.closed.Load(), p.size())
	}

	// The key is free again: the next acquire opens a new Store (a rotated Secret does this).
	d, err := p.acquire(t.Context(), cfgWithKey("one"))
	if err != nil {
		t.Fatal(err)
	}
	if o.count() != 3 {
		t.Fatalf("opened %d, want 3", o.count())
	}
	d.Release()
	p.closeAll()
	if other.Store().(*closeCounter).closed.Load() != 1 {
		t.Fatalf("closeAll left a Store open")
	}
	other.Release() // after closeAll: must not close twice or panic
	if other.Store().(*closeCounter).closed.Load() != 1 {
		t.Fatalf("Store closed twice")
	}
	if _, err := p.acquire(t.Context(), cfgWithKey("one")); !errors.Is(err, errPoolClosed) {
		t.Fatalf("acquire after closeAll: %v", err)
	}
}

func TestPoolConcurrentOpenOnce(t *testing.T) {
	o := &opener{delay: 50 * time.Millisecond}
	p := newPool(o.open)
	var wg sync.WaitGroup
	leases := make([]*lease, 8)
	for i := range leases {
		wg.Go(func() {
			l, err := p.acquire(t.Context(), cfgWithKey("k"))
			if err != nil {
				t.Error(err)
				return
			}
			leases[i] = l
		})
	}
	wg.Wait()
	if o.count() != 1 {
		t.Fatalf("8 concurrent acquires opened %d Stores, want 1", o.count())
	}
	for _, l := range leases {
		l.Release()
	}
	if o.opened[0].closed.Load() != 1 || p.size() != 0 {
		t.Fatalf("not closed once after the last release")
	}
}

func TestPoolFailedOpenIsNotCached(t *testing.T) {
	boom := errors.New("boom")
	o := &opener{fail: boom}
	p := newPool(o.open)
	if _, err := p.acquire(t.Context(), cfgWithKey("k")); !errors.Is(err, boom) {
		t.Fatalf("got %v, want boom", err)
	}
	if p.size() != 0 {
		t.Fatalf("a failed open stays in the pool")
	}
	o.mu.Lock()
	o.fail = nil
	o.mu.Unlock()
	l, err := p.acquire(t.Context(), cfgWithKey("k"))
	if err != nil {
		t.Fatalf("acquire after the backend recovered: %v", err)
	}
	l.Release()
}

func TestPoolOpenBoundedByContext(t *testing.T) {
	o := &opener{delay: time.Minute}
	p := newPool(o.open)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := p.acquire(ctx, cfgWithKey("k")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("acquire ignored its context")
	}
}
