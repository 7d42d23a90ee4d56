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

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// eventBound is how long a test waits for an event it caused: generous, as a missing event fails
// the test either way.
const eventBound = 10 * time.Second

func samePair(a, b *kvstore.KVPair) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Key == b.Key && a.LastIndex == b.LastIndex && bytes.Equal(a.Value, b.Value)
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
	kvtest.MustPut(t, writer, key, "v0", nil)
	first := kvtest.MustGet(t, writer, key)
	ch, err := st.Watch(t.Context(), key, nil) // its goroutine now waits to send the first pair
	if err != nil {
		t.Fatal(err)
	}
	kvtest.MustPut(t, writer, key, "v1", nil)
	missed := kvtest.MustGet(t, writer, key)
	flood(t, writer, dir+"/flood", 1100)
	expectCleared(t, server, etcdv2.LeafPath(key), first.LastIndex)

	if got := kvtest.MustReceive(t, ch, eventBound, "first event"); !samePair(got, first) {
		t.Fatalf("first event = %v, want %v", got, first)
	}
	if got := kvtest.MustReceive(t, ch, eventBound, "event after the history was cleared"); !samePair(got, missed) {
		t.Fatalf("event after the history was cleared = %v, want the write it missed, %v", got, missed)
	}
	kvtest.MustPut(t, writer, key, "v2", nil)
	if got, want := kvtest.MustReceive(t, ch, eventBound, "next event"), kvtest.MustGet(t, writer, key); !samePair(got, want) {
		t.Fatalf("next event = %v, want %v", got, want)
	}
	if err := writer.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if got := kvtest.MustReceive(t, ch, eventBound, "delete event"); got != nil {
		t.Fatalf("delete event = %v, want nil", got)
	}
}

// TestWatchTreeHistoryCleared is TestWatchHistoryCleared for WatchTree.
func TestWatchTreeHistoryCleared(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	st, writer := open(t, server, nil), open(t, server, nil)
	dir := prefix(t)
	kvtest.MustPut(t, writer, dir+"/tree/a", "a", nil)
	resp, err := raw(t, server).Get(t.Context(), "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.WatchTree(t.Context(), dir+"/tree", nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.MustPut(t, writer, dir+"/tree/b/c", "c", nil)
	flood(t, writer, dir+"/flood", 1100)
	expectCleared(t, server, etcdv2.NodePath(dir+"/tree"), resp.Index)

	if got := kvtest.MustReceive(t, ch, eventBound, "first listing"); len(got) != 1 {
		t.Fatalf("first listing = %v, want one pair", got)
	}
	want := kvtest.MustList(t, writer, dir+"/tree")
	if got := kvtest.MustReceive(t, ch, eventBound, "listing after the history was cleared"); len(got) != 2 || !samePair(got[0], want[0]) || !samePair(got[1], want[1]) {
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
	kvtest.MustPut(t, st, key, "before", nil)
	ch, err := st.Watch(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := st.WatchTree(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	last := kvtest.MustReceive(t, ch, eventBound, "first event")
	kvtest.MustReceive(t, tree, eventBound, "first listing")

	server.Kill(t)
	time.Sleep(300 * time.Millisecond) // the watches see their connections drop and retry
	server.Start(t)

	kvtest.MustPut(t, st, key, "after", nil)
	want := kvtest.MustGet(t, st, key)
	if want.LastIndex <= last.LastIndex {
		t.Fatalf("index went from %d to %d across the restart", last.LastIndex, want.LastIndex)
	}
	if got := kvtest.MustReceive(t, ch, eventBound, "event after the restart"); !samePair(got, want) {
		t.Errorf("event after the restart = %v, want %v", got, want)
	}
	if got := kvtest.MustReceive(t, tree, eventBound, "listing after the restart"); len(got) != 1 || !samePair(got[0], want) {
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
			kvtest.MustReceive(t, tree, eventBound, "first listing")
			down(t, server)
			bound := 2*poll + 3*timeout + failBound
			kvtest.ExpectClosed(t, ch, bound, "Watch")
			kvtest.ExpectClosed(t, tree, bound, "WatchTree")
		})
	}
}
