package etcd_test

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// rawClient is a plain etcd client, for what a Store does not offer (compaction) or hides (lock
// bookkeeping).
func rawClient(t *testing.T, eps []string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestWatchAcrossCompaction: a watcher cut off while the key changes and the history is
// compacted resumes at a compacted revision. Its Watch and WatchTree must read the current state
// and go on from there: no error, no going back in LastIndex, and later writes still arrive.
func TestWatchAcrossCompaction(t *testing.T) {
	t.Parallel()
	server := testserver.Etcd(t)
	proxy := testserver.NewProxy(t, server.Endpoints[0])
	// The cut below is transient: the connection timeout is far above it.
	watcher := open(t, []string{proxy.Addr()}, &kvstore.Config{ConnectionTimeout: 30 * time.Second})
	writer := open(t, server.Endpoints, nil)
	raw := rawClient(t, server.Endpoints)
	dir := prefix(t)
	key := dir + "/k"
	kvtest.MustPut(t, writer, key, "v0", nil)
	events, err := watcher.Watch(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	trees, err := watcher.WatchTree(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := expectValue(t, events, 0, "v0")
	expectListing(t, trees, key+"=v0")

	// Stalled, the watcher's connection holds back the events; cut, it loses them, and the
	// client resumes the watch from the revision after v0, which the compaction removed.
	proxy.Stall()
	kvtest.MustPut(t, writer, key, "v1", nil)
	kvtest.MustPut(t, writer, dir+"/other", "x", nil)
	kvtest.MustPut(t, writer, key, "v2", nil)
	resp, err := raw.Get(t.Context(), "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Compact(t.Context(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	proxy.Resume()

	// v1 was compacted away before the watcher could see it: the next pair is v2.
	v2, ok := kvtest.Receive(t, events, 30*time.Second, "Watch after the compaction")
	if !ok || v2 == nil || string(v2.Value) != "v2" || v2.LastIndex <= first.LastIndex {
		t.Fatalf("Watch after the compaction = %v, %v; want v2 after index %d", v2, ok, first.LastIndex)
	}
	expectListing(t, trees, key+"=v2", dir+"/other=x")
	kvtest.MustPut(t, writer, key, "v3", nil)
	expectValue(t, events, v2.LastIndex, "v3")
	expectListing(t, trees, key+"=v3", dir+"/other=x")
}
