package kvtest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/pairs"
)

var watchTreeTests = []test{
	{"WatchTreeInitial", testWatchTreeInitial},
	{"WatchTreeDepth", testWatchTreeDepth},
	{"WatchTreeBoundary", testWatchTreeBoundary},
	{"WatchTreeRapidWrites", testWatchTreeRapidWrites},
	{"WatchTreeCancelClose", testWatchTreeCancelClose},
}

// watchTree starts a WatchTree that ends with the test, or reports the backend's lack of watches.
func (s Suite) watchTree(t *testing.T, st kvstore.Store, dir string) (<-chan []*kvstore.KVPair, bool) {
	t.Helper()
	if !s.needWatch(t, st) {
		return nil, false
	}
	ch, err := st.WatchTree(t.Context(), dir, nil)
	if err != nil {
		t.Fatalf("WatchTree(%q): %v", dir, err)
	}
	if ch == nil {
		t.Fatalf("WatchTree(%q) returned a nil channel and no error", dir)
	}
	return ch, true
}

// nextSnapshot receives one listing, checks the rules every listing obeys (sorted, canonical
// keys strictly below dir, valid pairs) and returns it.
func nextSnapshot(t *testing.T, ch <-chan []*kvstore.KVPair, dir, what string) []*kvstore.KVPair {
	t.Helper()
	snap := MustReceive(t, ch, eventBound, what)
	for i, p := range snap {
		checkPair(t, what, p)
		if !kvstore.IsBelow(dir, p.Key) {
			t.Errorf("%s: %q is not strictly below %q: %s", what, p.Key, dir, fmtPairs(snap))
		}
		if i > 0 && snap[i-1].Key >= p.Key {
			t.Errorf("%s: not sorted at %q, %q", what, snap[i-1].Key, p.Key)
		}
	}
	return snap
}

// awaitSnapshot receives listings until one equals List(dir) as read now, failing if a listing
// breaks the rules or the right one does not come. Snapshots may coalesce, so intermediate ones
// are not compared.
func awaitSnapshot(t *testing.T, ch <-chan []*kvstore.KVPair, st kvstore.Store, dir, what string) []*kvstore.KVPair {
	t.Helper()
	var last []*kvstore.KVPair
	for snap := range awaitSnapshotSeq(t, ch, st, dir, what) {
		last = snap
	}
	return last
}

// awaitSnapshotSeq yields every listing received until one equals List(dir), that one included,
// so a caller can check each; it fails like awaitSnapshot.
func awaitSnapshotSeq(t *testing.T, ch <-chan []*kvstore.KVPair, st kvstore.Store, dir, what string) iter.Seq[[]*kvstore.KVPair] {
	t.Helper()
	want, err := st.List(t.Context(), dir, nil)
	if errors.Is(err, kvstore.ErrKeyNotFound) {
		want, err = []*kvstore.KVPair{}, nil
	}
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	return func(yield func([]*kvstore.KVPair) bool) {
		for n := 0; ; n++ {
			snap := nextSnapshot(t, ch, dir, fmt.Sprintf("%s (listing %d, want %s)", what, n, fmtPairs(want)))
			if !yield(snap) || pairs.Equal(snap, want) {
				return
			}
		}
	}
}

// expectTreeUnchanged fails if, during quietPeriod, a listing other than last arrives. A repeat of
// last is tolerated: the contract promises a listing after every change, not only after one, and
// a backend woken by a neighbour's write may send the same listing again harmlessly.
func expectTreeUnchanged(t *testing.T, ch <-chan []*kvstore.KVPair, last []*kvstore.KVPair, what string) {
	t.Helper()
	timer := time.NewTimer(quietPeriod)
	defer timer.Stop()
	for {
		select {
		case snap, ok := <-ch:
			if !ok {
				t.Fatalf("%s: channel closed unexpectedly", what)
			}
			if !pairs.Equal(snap, last) {
				t.Fatalf("%s: unexpected listing %s after %s", what, fmtPairs(snap), fmtPairs(last))
			}
		case <-timer.C:
			return
		}
	}
}

// testWatchTreeInitial: the first listing is the full current one, and an empty, non-nil slice
// for an empty directory. Guards libkv's ZooKeeper WatchTree, which returned an error for a
// missing directory, and its etcd v2 WatchTree, which closed the channel at once.
func testWatchTreeInitial(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	empty, ok := s.watchTree(t, st, dir+"/empty")
	if !ok {
		return
	}
	if snap := nextSnapshot(t, empty, dir+"/empty", "first listing of an empty directory"); snap == nil || len(snap) != 0 {
		t.Errorf("first listing of an empty directory = %s, want an empty non-nil slice", fmtPairs(snap))
	}
	for _, k := range []string{"a", "b/c", "b/d/e"} {
		MustPut(t, st, dir+"/full/"+k, k, nil)
	}
	full, _ := s.watchTree(t, st, "/"+dir+"//full/")
	want := MustList(t, st, dir+"/full")
	if snap := nextSnapshot(t, full, dir+"/full", "first listing"); !pairs.Equal(snap, want) {
		t.Errorf("first listing = %s, List = %s", fmtPairs(snap), fmtPairs(want))
	}
	expectTreeUnchanged(t, full, want, "WatchTree with no writes")
}

// testWatchTreeDepth: a create, an update and a delete at any depth each produce a listing,
// seen from another Store. Guards libkv's ZooKeeper WatchTree, which watched the children of the
// top node only and so missed value changes and every deeper level.
func testWatchTreeDepth(t *testing.T, s Suite) {
	st, watcher := s.open(t), s.open(t)
	dir := randomPrefix(t)
	MustPut(t, st, dir+"/a", "a", nil)
	ch, ok := s.watchTree(t, watcher, dir)
	if !ok {
		return
	}
	awaitSnapshot(t, ch, st, dir, "first listing")
	steps := []struct {
		name string
		do   func()
	}{
		{"create at depth 4", func() { MustPut(t, st, dir+"/b/c/d/e", "deep", nil) }},
		{"update at depth 4", func() { MustPut(t, st, dir+"/b/c/d/e", "deeper", nil) }},
		{"same-value update at depth 1", func() { MustPut(t, st, dir+"/a", "a", nil) }},
		{"create at depth 2", func() { MustPut(t, st, dir+"/b/x", "x", nil) }},
		{"delete at depth 4", func() {
			if err := st.Delete(t.Context(), dir+"/b/c/d/e"); err != nil {
				t.Fatal(err)
			}
		}},
		{"DeleteTree at depth 1", func() {
			if err := st.DeleteTree(t.Context(), dir+"/b"); err != nil {
				t.Fatal(err)
			}
		}},
		{"delete of the last key", func() {
			if err := st.Delete(t.Context(), dir+"/a"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, step := range steps {
		step.do()
		awaitSnapshot(t, ch, st, dir, "listing after "+step.name)
	}
}

// testWatchTreeBoundary: the directory's own key and siblings sharing its string prefix are never
// listed, and their writes cause no listing. Guards libkv's Consul WatchTree, built on a raw
// prefix, which reported "app2" and "apple/x" under "app", and the directory itself unless
// spelled exactly as stored.
func testWatchTreeBoundary(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t) + "/app"
	MustPut(t, st, dir+"/x", "x", nil)
	ch, ok := s.watchTree(t, st, dir)
	if !ok {
		return
	}
	awaitSnapshot(t, ch, st, dir, "first listing")
	MustPut(t, st, dir, "the directory itself", nil)
	MustPut(t, st, dir+"le/x", "sibling", nil)
	MustPut(t, st, dir+"2", "sibling", nil)
	// A write below follows, so that a listing must come; every listing received on the way is
	// checked by nextSnapshot not to hold the directory or its siblings.
	MustPut(t, st, dir+"/y", "y", nil)
	snap := awaitSnapshot(t, ch, st, dir, "listing after writes around the directory")
	expectKeys(t, "listing", snap, dir+"/x", dir+"/y")
}

// testWatchTreeRapidWrites: 100 writes and deletes over several depths in quick succession;
// after they stop the last listing equals List. Guards WatchTree implementations that re-list on
// a notification and drop notifications arriving meanwhile (one-shot ZooKeeper watches), ending
// on a stale listing.
func testWatchTreeRapidWrites(t *testing.T, s Suite) {
	writer, watcher := s.open(t), s.open(t)
	dir := randomPrefix(t)
	ch, ok := s.watchTree(t, watcher, dir)
	if !ok {
		return
	}
	nextSnapshot(t, ch, dir, "first listing")
	for i := range 100 {
		key := kvstore.Join(dir, fmt.Sprintf("d%d", i%3), []string{"", "sub", "sub/deeper"}[i%3], fmt.Sprintf("k%d", i%7))
		if i%5 == 4 {
			_ = writer.Delete(t.Context(), key) // may be missing: only the end state counts
			continue
		}
		MustPut(t, writer, key, fmt.Sprintf("v%d", i), nil)
	}
	final := awaitSnapshot(t, ch, writer, dir, "listing after the writes stopped")
	expectTreeUnchanged(t, ch, final, "WatchTree after the final listing")
}

// testWatchTreeCancelClose: the channel closes soon after ctx ends and on Close, with no write
// to wake it; WatchTree on a closed Store is ErrClosed. Guards libkv's Consul WatchTree, which saw
// its stop channel only between 15 s blocking queries, and Close methods that did nothing.
func testWatchTreeCancelClose(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	MustPut(t, st, dir+"/a", "a", nil)
	if !s.needWatch(t, st) {
		return
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch, err := st.WatchTree(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	nextSnapshot(t, ch, dir, "first listing")
	cancel()
	ExpectClosed(t, ch, closeBound, "WatchTree after cancel")

	full, _ := s.watchTree(t, st, dir)
	empty, _ := s.watchTree(t, st, dir+"/nothing")
	nextSnapshot(t, full, dir, "first listing")
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ExpectClosed(t, full, closeBound, "WatchTree after Close")
	ExpectClosed(t, empty, closeBound, "WatchTree of an empty directory after Close")
	_, err = st.WatchTree(t.Context(), dir, nil)
	expectErr(t, "WatchTree on a closed Store", err, kvstore.ErrClosed)
}
