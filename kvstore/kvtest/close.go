package kvtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

var closeTests = []test{
	{"CloseIdempotent", testCloseIdempotent},
	{"CloseThenCall", testCloseThenCall},
	{"CloseDuringCalls", testCloseDuringCalls},
}

// testCloseIdempotent: Close twice (and concurrently) returns nil and leaves other Stores working.
// Guards a second Close that fails or panics on an already closed client, and backends sharing one
// client between Stores, so that one Close broke them all.
func testCloseIdempotent(t *testing.T, s Suite) {
	st, other := s.open(t), s.open(t)
	key := randomPrefix(t) + "/k"
	MustPut(t, st, key, "v", nil)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = st.Close() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Close %d: %v", i, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close after Close: %v", err)
	}
	expectPair(t, "Get on another Store after Close", mustGet(t, other, key), key, "v")
}

// testCloseThenCall: every call after Close returns ErrClosed. Guards libkv's Consul and etcd v2
// Close, which did nothing, so calls after it went on working, and clients whose calls after Close
// fail with their own untyped error.
func testCloseThenCall(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	key := dir + "/k"
	MustPut(t, st, key, "v", nil)
	prev := mustGet(t, st, key)
	var lock kvstore.Locker
	if s.supports(CapLock) {
		var err error
		if lock, err = st.NewLock(t.Context(), dir+"/lock", nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	check := func(op string, err error) { t.Helper(); expectErr(t, op+" after Close", err, kvstore.ErrClosed) }
	check("Put", st.Put(ctx, key, []byte("x"), nil))
	_, err := st.Get(ctx, key, nil)
	check("Get", err)
	check("Delete", st.Delete(ctx, key))
	_, err = st.Exists(ctx, key, nil)
	check("Exists", err)
	_, err = st.List(ctx, dir, nil)
	check("List", err)
	check("DeleteTree", st.DeleteTree(ctx, dir))
	_, _, err = st.AtomicPut(ctx, key, []byte("x"), prev, nil)
	check("AtomicPut", err)
	_, err = st.AtomicDelete(ctx, key, prev)
	check("AtomicDelete", err)
	if s.supports(CapWatch) {
		_, err = st.Watch(ctx, key, nil)
		check("Watch", err)
		_, err = st.WatchTree(ctx, dir, nil)
		check("WatchTree", err)
	}
	if s.supports(CapLock) {
		_, err = st.NewLock(ctx, dir+"/lock2", nil)
		check("NewLock", err)
		lost, err := lock.Lock(ctx)
		check("Lock of a Locker made before Close", err)
		if lost != nil {
			t.Error("Lock after Close returned a channel")
		}
	}
	expectPair(t, "the data after Close", mustGet(t, s.open(t), key), key, "v")
}

// testCloseDuringCalls: Close while other goroutines are inside calls and watches: every call
// returns (nil, a domain error or ErrClosed), no panic, no hang. Guards Close releasing a handle
// (a bbolt file, a ZooKeeper connection) under running calls.
func testCloseDuringCalls(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				err := mixedOps(ctx, st, dir, w, i)
				if errors.Is(err, kvstore.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("during Close: %v", err)
					return
				}
			}
		})
	}
	if s.supports(CapWatch) {
		if ch, err := st.Watch(ctx, dir+"/shared/0", nil); err == nil {
			wg.Go(func() { drain(ch) })
		}
		if ch, err := st.WatchTree(ctx, dir, nil); err == nil {
			wg.Go(func() { drain(ch) })
		}
	}
	time.Sleep(200 * time.Millisecond)
	if err := st.Close(); err != nil {
		t.Errorf("Close during calls: %v", err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(eventBound):
		t.Fatalf("calls still running %s after Close", eventBound)
	}
}

// drain receives from ch until it is closed; the caller bounds the wait.
func drain[T any](ch <-chan T) {
	for range ch {
	}
}
