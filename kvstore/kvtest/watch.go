package kvtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

var watchTests = []test{
	{"WatchCurrentFirst", testWatchCurrentFirst},
	{"WatchEveryWrite", testWatchEveryWrite},
	{"WatchDelete", testWatchDelete},
	{"WatchMissingKey", testWatchMissingKey},
	{"WatchNeighbours", testWatchNeighbours},
	{"WatchRapidWrites", testWatchRapidWrites},
	{"WatchCancel", testWatchCancel},
	{"WatchClose", testWatchClose},
}

// needWatch reports, after checking that Watch and WatchTree refuse with ErrCallNotSupported,
// a backend that declares no watches; it returns whether the test can go on.
func (s Suite) needWatch(t *testing.T, st kvstore.Store) bool {
	t.Helper()
	return !s.unsupported(t, CapWatch, func() {
		dir := randomPrefix(t)
		_, err := st.Watch(t.Context(), dir+"/k", nil)
		expectErr(t, "Watch", err, kvstore.ErrCallNotSupported)
		_, err = st.WatchTree(t.Context(), dir, nil)
		expectErr(t, "WatchTree", err, kvstore.ErrCallNotSupported)
	})
}

// watch starts a Watch that ends with the test, or reports the backend's lack of watches.
func (s Suite) watch(t *testing.T, st kvstore.Store, key string) (<-chan *kvstore.KVPair, bool) {
	t.Helper()
	if !s.needWatch(t, st) {
		return nil, false
	}
	ch, err := st.Watch(t.Context(), key, nil)
	if err != nil {
		t.Fatalf("Watch(%q): %v", key, err)
	}
	if ch == nil {
		t.Fatalf("Watch(%q) returned a nil channel and no error", key)
	}
	return ch, true
}

// nextEvent receives one watch event and fails on close or timeout.
func nextEvent(t *testing.T, ch <-chan *kvstore.KVPair, what string) *kvstore.KVPair {
	t.Helper()
	return MustReceive(t, ch, eventBound, what)
}

// testWatchCurrentFirst: Watch on an existing key sends its current pair first, equal to Get,
// with the canonical key whatever form the caller used. Guards watches built on a native change
// stream alone (etcd v3's, ZooKeeper's GetW), which report changes only.
func testWatchCurrentFirst(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	MustPut(t, st, key, "v", nil)
	want := mustGet(t, st, key)
	ch, ok := s.watch(t, st, "//"+key+"/")
	if !ok {
		return
	}
	if got := nextEvent(t, ch, "first event"); !samePair(got, want) {
		t.Errorf("first event = %s, Get = %s", fmtPair(got), fmtPair(want))
	}
	ExpectQuiet(t, ch, quietPeriod, "watch with no writes")
}

// testWatchEveryWrite: one event per write, same-value writes included, in strictly growing
// LastIndex order, each equal to Get; from a watcher on another Store. Guards libkv's ZooKeeper
// watch, which re-armed its one-shot GetW after each event and lost the writes in between, and
// watches that compare values and drop same-value writes.
func testWatchEveryWrite(t *testing.T, s Suite) {
	writer, watcher := s.open(t), s.open(t)
	key := randomPrefix(t) + "/k"
	MustPut(t, writer, key, "start", nil)
	ch, ok := s.watch(t, watcher, key)
	if !ok {
		return
	}
	last := nextEvent(t, ch, "first event")
	for i, v := range []string{"a", "a", "b", "b", "b", "a"} {
		MustPut(t, writer, key, v, nil)
		want := mustGet(t, writer, key)
		got := nextEvent(t, ch, fmt.Sprintf("event for write %d (%q)", i, v))
		if !samePair(got, want) {
			t.Fatalf("event for write %d = %s, Get = %s", i, fmtPair(got), fmtPair(want))
		}
		if got.LastIndex <= last.LastIndex {
			t.Errorf("event index went from %d to %d", last.LastIndex, got.LastIndex)
		}
		last = got
	}
	ExpectQuiet(t, ch, quietPeriod, "watch after the last write")
}

// testWatchDelete: a delete is reported as a nil pair, by Delete, AtomicDelete and DeleteTree of
// a parent alike, and a re-created key is reported again. Guards libkv, whose Consul watches never
// reported a delete, whose etcd v2 watch sent one as a pair with an empty value, and whose
// ZooKeeper watch ignored every event but a data change.
func testWatchDelete(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	key := dir + "/k"
	MustPut(t, st, key, "v", nil)
	ch, ok := s.watch(t, st, key)
	if !ok {
		return
	}
	nextEvent(t, ch, "first event")
	deletes := []struct {
		name string
		del  func() error
	}{
		{"Delete", func() error { return st.Delete(t.Context(), key) }},
		{"AtomicDelete", func() error { _, err := st.AtomicDelete(t.Context(), key, mustGet(t, st, key)); return err }},
		{"DeleteTree of the parent", func() error { return st.DeleteTree(t.Context(), dir) }},
	}
	for i, d := range deletes {
		if i > 0 {
			MustPut(t, st, key, d.name, nil)
			expectPair(t, "event after re-create", nextEvent(t, ch, "re-create before "+d.name), key, d.name)
		}
		if err := d.del(); err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if got := nextEvent(t, ch, "event for "+d.name); got != nil {
			t.Fatalf("event for %s = %s, want nil", d.name, fmtPair(got))
		}
	}
	ExpectQuiet(t, ch, quietPeriod, "watch of a deleted key")
}

// testWatchMissingKey: Watch on a missing key sends nothing until the key is created, then its
// pair. Guards libkv's ZooKeeper Watch, which returned ErrKeyNotFound, and its etcd v2 Watch,
// which closed the channel at once.
func testWatchMissingKey(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/later"
	ch, ok := s.watch(t, st, key)
	if !ok {
		return
	}
	ExpectQuiet(t, ch, quietPeriod, "watch of a missing key")
	MustPut(t, s.open(t), key, "created", nil)
	got := nextEvent(t, ch, "event for the creation")
	expectPair(t, "event for the creation", got, key, "created")
	if want := mustGet(t, st, key); !samePair(got, want) {
		t.Errorf("creation event = %s, Get = %s", fmtPair(got), fmtPair(want))
	}
}

// testWatchNeighbours: writes below the key or to keys sharing its string prefix are not events
// of the key. Guards watches built on a raw prefix watch (etcd v3 WithPrefix, Consul's keyprefix)
// that fire for "k/child" and "k2".
func testWatchNeighbours(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	MustPut(t, st, key, "v", nil)
	ch, ok := s.watch(t, st, key)
	if !ok {
		return
	}
	nextEvent(t, ch, "first event")
	for _, other := range []string{key + "/child", key + "2", key + "-x/y"} {
		MustPut(t, st, other, "n", nil)
	}
	if err := st.Delete(t.Context(), key+"/child"); err != nil {
		t.Fatal(err)
	}
	MustPut(t, st, key, "own", nil)
	expectPair(t, "next event after neighbour writes", nextEvent(t, ch, "own write"), key, "own")
}

// testWatchRapidWrites: after 100 writes in quick succession, events never go back in LastIndex
// and the last one equals Get. Guards one-shot watches re-armed after reading (libkv's
// ZooKeeper), which can miss the final state, and watches that drop events for a slow receiver.
func testWatchRapidWrites(t *testing.T, s Suite) {
	writer, watcher := s.open(t), s.open(t)
	key := randomPrefix(t) + "/k"
	ch, ok := s.watch(t, watcher, key)
	if !ok {
		return
	}
	const writes = 100
	for i := range writes {
		MustPut(t, writer, key, fmt.Sprintf("v%03d", i), nil)
	}
	want := mustGet(t, writer, key)
	var last *kvstore.KVPair
	n := 0
	for !samePair(last, want) {
		got := nextEvent(t, ch, fmt.Sprintf("event %d (waiting for the final %s)", n, fmtPair(want)))
		if got == nil {
			t.Fatalf("delete event while only writing")
		}
		checkPair(t, "event", got)
		if last != nil && got.LastIndex < last.LastIndex {
			t.Fatalf("event index went back from %d to %d", last.LastIndex, got.LastIndex)
		}
		last = got
		n++
	}
	t.Logf("%d events for %d writes", n, writes)
	ExpectQuiet(t, ch, quietPeriod, "watch after the final state")
}

// testWatchCancel: the channel closes soon after ctx ends, with no write to wake it. Guards
// libkv's Consul watch, which checked its stop channel only between 15 s blocking queries, and
// libkv watch goroutines whose sends blocked forever once the receiver had gone.
func testWatchCancel(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	if !s.needWatch(t, st) {
		return
	}
	MustPut(t, st, key, "v", nil)
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := st.Watch(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	nextEvent(t, ch, "first event")
	cancel()
	ExpectClosed(t, ch, closeBound, "Watch after cancel")

	// A watch cancelled while waiting for a missing key closes too.
	ctx, cancel = context.WithCancel(t.Context())
	ch, err = st.Watch(ctx, key+"-missing", nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	ExpectClosed(t, ch, closeBound, "Watch of a missing key after cancel")
}

// testWatchClose: Close closes the channel of every watch of the Store, without touching other
// Stores' watches, and Watch on a closed Store is ErrClosed. Guards libkv's Consul and etcd v2
// Close, which did nothing, leaving every watch running.
func testWatchClose(t *testing.T, s Suite) {
	st, other := s.open(t), s.open(t)
	key := randomPrefix(t) + "/k"
	ch, ok := s.watch(t, st, key)
	if !ok {
		return
	}
	missing, _ := s.watch(t, st, key+"-missing")
	MustPut(t, st, key, "v", nil)
	nextEvent(t, ch, "first event")
	otherCh, _ := s.watch(t, other, key)
	nextEvent(t, otherCh, "first event on the other Store")
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ExpectClosed(t, ch, closeBound, "Watch after Close")
	ExpectClosed(t, missing, closeBound, "Watch of a missing key after Close")
	_, err := st.Watch(t.Context(), key, nil)
	if !errors.Is(err, kvstore.ErrClosed) {
		t.Errorf("Watch on a closed Store: %v, want ErrClosed", err)
	}
	MustPut(t, other, key, "after", nil)
	expectPair(t, "other Store's watch after Close", nextEvent(t, otherCh, "other Store's watch"), key, "after")
}
