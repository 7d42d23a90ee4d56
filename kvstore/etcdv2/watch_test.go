package etcdv2_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/internal/testserver"
	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
)

// eventBound is how long a test waits for an event it caused: generous, as a missing event fails
// the test either way.
const eventBound = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed", what)
		}
		return v
	case <-time.After(eventBound):
		t.Fatalf("%s: nothing within %s", what, eventBound)
	}
	panic("unreachable")
}

// recvOrClosed returns the next value, or ok false once ch is closed.
func recvOrClosed[T any](t *testing.T, ch <-chan T, d time.Duration, what string) (T, bool) {
	t.Helper()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-time.After(d):
		t.Fatalf("%s: neither a value nor closed within %s", what, d)
	}
	panic("unreachable")
}

func expectClosed[T any](t *testing.T, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	start := time.Now()
	for {
		if _, ok := recvOrClosed(t, ch, d-time.Since(start), what); !ok {
			t.Logf("%s: closed after %s", what, time.Since(start).Round(time.Millisecond))
			return
		}
	}
}

func samePair(a, b *kvstore.KVPair) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Key == b.Key && a.LastIndex == b.LastIndex && bytes.Equal(a.Value, b.Value)
}

func mustGet(t *testing.T, st kvstore.Store, key string) *kvstore.KVPair {
	t.Helper()
	p, err := st.Get(t.Context(), key, nil)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return p
}

func mustPut(t *testing.T, st kvstore.Store, key, value string) {
	t.Helper()
	if err := st.Put(t.Context(), key, []byte(value), nil); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// flood writes n keys below dir from several goroutines, to push etcd's 1000-event history
// window past whatever a watch is waiting for.
func flood(t *testing.T, st kvstore.Store, dir string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				if err := st.Put(t.Context(), fmt.Sprintf("%s/%d", dir, i), []byte("x"), nil); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// expectCleared checks with a plain v2 watcher that etcd no longer has the events after index
// at path: the condition the tests below mean to create.
func expectCleared(t *testing.T, server *testserver.Server, path string, index uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := raw(t, server).Watcher(path, &client.WatcherOptions{AfterIndex: index}).Next(ctx)
	var e client.Error
	if !errors.As(err, &e) || e.Code != client.ErrorCodeEventIndexCleared {
		t.Fatalf("v2 watch of %s after %d: %v; want error 401, event index cleared", path, index, err)
	}
}

// TestWatchHistoryCleared: a watch whose receiver is slow while more than 1000 writes happen
// elsewhere finds etcd's event history cleared; it reads the key afresh, delivers the write it
// would have missed, and goes on with the next writes.
func TestWatchHistoryCleared(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	st, writer := open(t, server, nil), open(t, server, nil)
	dir := prefix(t)
	key := dir + "/k"
	mustPut(t, writer, key, "v0")
	first := mustGet(t, writer, key)
	ch, err := st.Watch(t.Context(), key, nil) // its goroutine now waits to send the first pair
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, writer, key, "v1")
	missed := mustGet(t, writer, key)
	flood(t, writer, dir+"/flood", 1100)
	expectCleared(t, server, etcdv2.LeafPath(key), first.LastIndex)

	if got := recv(t, ch, "first event"); !samePair(got, first) {
		t.Fatalf("first event = %v, want %v", got, first)
	}
	if got := recv(t, ch, "event after the history was cleared"); !samePair(got, missed) {
		t.Fatalf("event after the history was cleared = %v, want the write it missed, %v", got, missed)
	}
	mustPut(t, writer, key, "v2")
	if got, want := recv(t, ch, "next event"), mustGet(t, writer, key); !samePair(got, want) {
		t.Fatalf("next event = %v, want %v", got, want)
	}
	if err := writer.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, ch, "delete event"); got != nil {
		t.Fatalf("delete event = %v, want nil", got)
	}
}

// TestWatchTreeHistoryCleared is TestWatchHistoryCleared for WatchTree.
func TestWatchTreeHistoryCleared(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	st, writer := open(t, server, nil), open(t, server, nil)
	dir := prefix(t)
	mustPut(t, writer, dir+"/tree/a", "a")
	resp, err := raw(t, server).Get(t.Context(), "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.WatchTree(t.Context(), dir+"/tree", nil)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, writer, dir+"/tree/b/c", "c")
	flood(t, writer, dir+"/flood", 1100)
	expectCleared(t, server, etcdv2.NodePath(dir+"/tree"), resp.Index)

	if got := recv(t, ch, "first listing"); len(got) != 1 {
		t.Fatalf("first listing = %v, want one pair", got)
	}
	want := mustList(t, writer, dir+"/tree")
	if got := recv(t, ch, "listing after the history was cleared"); len(got) != 2 || !samePair(got[0], want[0]) || !samePair(got[1], want[1]) {
		t.Fatalf("listing after the history was cleared = %v, want %v", got, want)
	}
}

// TestWatchServerRestart: a watch outlives a crash and restart of the server that is shorter
// than the connection timeout: it resumes from where it was and reports the next writes.
func TestWatchServerRestart(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	// A restart takes a second or two here; the timeout leaves room for a loaded machine.
	st := open(t, server, &kvstore.Config{ConnectionTimeout: 30 * time.Second})
	dir := prefix(t)
	key := dir + "/k"
	mustPut(t, st, key, "before")
	ch, err := st.Watch(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := st.WatchTree(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	last := recv(t, ch, "first event")
	recv(t, tree, "first listing")

	server.Kill(t)
	time.Sleep(300 * time.Millisecond) // the watches see their connections drop and retry
	server.Start(t)

	mustPut(t, st, key, "after")
	want := mustGet(t, st, key)
	if want.LastIndex <= last.LastIndex {
		t.Fatalf("index went from %d to %d across the restart", last.LastIndex, want.LastIndex)
	}
	if got := recv(t, ch, "event after the restart"); !samePair(got, want) {
		t.Errorf("event after the restart = %v, want %v", got, want)
	}
	if got := recv(t, tree, "listing after the restart"); len(got) != 1 || !samePair(got[0], want) {
		t.Errorf("listing after the restart = %v, want [%v]", got, want)
	}
}

// TestWatchServerGone: watches close their channels once the server has been down for the
// connection timeout, rather than wait in silence; so do they when the server stops answering
// without closing connections (a paused process), after one long poll at most.
func TestWatchServerGone(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	cfg := &kvstore.Config{ConnectionTimeout: timeout}
	// Retries are spaced up to a second apart, and a paused server costs a poll and a probe of
	// up to timeout each before the failures are counted.
	for name, down := range map[string]func(*testing.T, *testserver.Server){
		"Stopped": func(t *testing.T, s *testserver.Server) { s.Stop(t) },
		"Paused":  func(t *testing.T, s *testserver.Server) { s.Pause(t); t.Cleanup(func() { s.Resume(t) }) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			server := testserver.EtcdV2(t)
			st := open(t, server, cfg)
			const poll = 300 * time.Millisecond
			etcdv2.SetWatchPoll(st, poll)
			key := prefix(t) + "/k"
			ch, err := st.Watch(t.Context(), key, nil)
			if err != nil {
				t.Fatal(err)
			}
			tree, err := st.WatchTree(t.Context(), key, nil)
			if err != nil {
				t.Fatal(err)
			}
			recv(t, tree, "first listing")
			down(t, server)
			bound := 2*poll + 3*timeout + failBound
			expectClosed(t, ch, bound, "Watch")
			expectClosed(t, tree, bound, "WatchTree")
		})
	}
}
