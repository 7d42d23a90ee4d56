package zookeeper_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
)

// rawConn is a plain go-zookeeper connection to the shared server, playing another ZooKeeper
// client (zkCli, Curator) that shares the tree with kvmirror.
func rawConn(t *testing.T) *zk.Conn {
	t.Helper()
	conn, events, err := zk.Connect(endpoints, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(discard{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		for range events {
		}
	})
	return conn
}

type discard struct{}

func (discard) Printf(string, ...any) {}

func create(t *testing.T, c *zk.Conn, path string, data []byte) {
	t.Helper()
	if _, err := c.Create(path, data, zk.FlagPersistent, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create %s: %v", path, err)
	}
}

func keysOf(pairs []*kvstore.KVPair) []string {
	keys := make([]string, len(pairs))
	for i, p := range pairs {
		keys[i] = p.Key
	}
	return keys
}

// TestForeignTree: nodes written by another ZooKeeper client read as keys under their own names;
// nodes with null data (zkCli's `create /path`) are directories, not keys; names that the key
// encoding never produces are left out, with what lies below them.
func TestForeignTree(t *testing.T) {
	c := rawConn(t)
	top := "foreign-" + rand.Text()[:8]
	create(t, c, "/"+top, nil)
	create(t, c, "/"+top+"/conf", []byte("1"))
	create(t, c, "/"+top+"/empty", []byte{})
	create(t, c, "/"+top+"/dir", nil)
	create(t, c, "/"+top+"/dir/leaf", []byte("2"))
	create(t, c, "/"+top+"/odd%{25}name", []byte("3"))
	create(t, c, "/"+top+"/odd%{25}name/below", []byte("4"))
	st := openStore(t, endpoints, nil)
	pairs, err := st.List(t.Context(), top, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{top + "/conf", top + "/dir/leaf", top + "/empty"}
	if got := keysOf(pairs); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if ok, err := st.Exists(t.Context(), top+"/dir", nil); ok || err != nil {
		t.Errorf("Exists of a null-data node = %v, %v; want false", ok, err)
	}
	if pair, err := st.Get(t.Context(), top+"/empty", nil); err != nil || pair.Value == nil || len(pair.Value) != 0 {
		t.Errorf("Get of an empty node = %v, %v", pair, err)
	}
	if err := st.DeleteTree(t.Context(), top); err != nil {
		t.Fatal(err)
	}
	// The node that is no key stays, and so does its parent.
	if ok, _, err := c.Exists("/" + top + "/odd%{25}name/below"); !ok || err != nil {
		t.Errorf("DeleteTree removed a node that is not a key: %v", err)
	}
	if _, err := st.List(t.Context(), top, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List after DeleteTree: %v, want ErrKeyNotFound", err)
	}
}

// TestReservedName: at the server's root, the key "zookeeper" is stored apart from ZooKeeper's
// own /zookeeper node, which no call reads, lists or deletes.
func TestReservedName(t *testing.T) {
	c := rawConn(t)
	before, _, err := c.Children("/zookeeper")
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t, endpoints, nil)
	ctx := t.Context()
	if _, err := st.Get(ctx, "zookeeper", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("Get(zookeeper) before any write: %v, want ErrKeyNotFound", err)
	}
	for _, k := range []string{"zookeeper", "zookeeper/config", "zookeeper/quota/x"} {
		if err := st.Put(ctx, k, []byte("mine:"+k), nil); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	pairs, err := st.List(ctx, "zookeeper", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := keysOf(pairs); !slices.Equal(got, []string{"zookeeper/config", "zookeeper/quota/x"}) {
		t.Errorf("List(zookeeper) = %q", got)
	}
	if err := st.DeleteTree(ctx, "zookeeper"); err != nil {
		t.Fatal(err)
	}
	after, _, err := c.Children("/zookeeper")
	if err != nil || !slices.Equal(after, before) {
		t.Errorf("the server's /zookeeper changed: %q, was %q (%v)", after, before, err)
	}
}

// TestChroot: an endpoint's path is the Store's root. Keys live below it, List and DeleteTree of
// the root stay inside it, and the chroot node is created on first write.
func TestChroot(t *testing.T) {
	chroot := "chroot-" + rand.Text()[:8] + "/apps"
	inside := openStore(t, []string{endpoints[0] + "/" + chroot + "/"}, nil)
	root := openStore(t, endpoints, nil)
	ctx := t.Context()
	if _, err := inside.List(ctx, "", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List of an empty chroot: %v, want ErrKeyNotFound", err)
	}
	for _, k := range []string{"zookeeper", "a/b"} {
		if err := inside.Put(ctx, k, []byte("v"), nil); err != nil {
			t.Fatalf("Put(%q) in the chroot: %v", k, err)
		}
		if pair, err := root.Get(ctx, chroot+"/"+k, nil); err != nil || string(pair.Value) != "v" {
			t.Errorf("Get(%q) from the root = %v, %v", chroot+"/"+k, pair, err)
		}
	}
	pairs, err := inside.List(ctx, "/", nil)
	if err != nil || !slices.Equal(keysOf(pairs), []string{"a/b", "zookeeper"}) {
		t.Errorf("List of the chroot = %q, %v", keysOf(pairs), err)
	}
	if err := inside.DeleteTree(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := inside.List(ctx, "", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List after DeleteTree of the root: %v, want ErrKeyNotFound", err)
	}
}

// TestTTLMarker: the TTL of a key is kept in its ACL list as an entry that grants nothing, so a
// write with the same TTL is a plain data update (extending it in place), and one without a TTL
// re-creates the node as a permanent one.
func TestTTLMarker(t *testing.T) {
	c := rawConn(t)
	st := openStore(t, endpoints, nil)
	ctx := t.Context()
	key := "marker-" + rand.Text()[:8]
	ttl := &kvstore.WriteOptions{TTL: time.Minute}
	if err := st.Put(ctx, key, []byte("1"), ttl); err != nil {
		t.Fatal(err)
	}
	first, _ := st.Get(ctx, key, nil)
	if err := st.Put(ctx, key, []byte("2"), ttl); err != nil {
		t.Fatal(err)
	}
	acl, stat, err := c.GetACL("/" + key)
	if err != nil {
		t.Fatal(err)
	}
	marked := slices.ContainsFunc(acl, func(a zk.ACL) bool { return a.Perms == 0 && strings.HasSuffix(a.ID, ":60000") })
	if !marked || stat.Version != 1 || uint64(stat.Czxid) != first.LastIndex {
		t.Errorf("after a second write with the same TTL: ACL %v, version %d, czxid %d (first write %d); want the marker, an update in place",
			acl, stat.Version, stat.Czxid, first.LastIndex)
	}
	if err := st.Put(ctx, key, []byte("3"), nil); err != nil {
		t.Fatal(err)
	}
	acl, stat, err = c.GetACL("/" + key)
	if err != nil || len(acl) != 1 || stat.Version != 0 {
		t.Errorf("after a write without TTL: ACL %v, version %d (%v); want a new node without the marker", acl, stat.Version, err)
	}
}

// TestLargeTree: a tree of 1,000 keys over three levels lists completely, and WatchTree's first
// listing equals List and follows a change deep inside. The walk and WatchTree's first read
// pipeline their requests, a round trip per level; the time is logged, not asserted.
func TestLargeTree(t *testing.T) {
	st := openStore(t, endpoints, nil)
	ctx := t.Context()
	dir := "large-" + rand.Text()[:8]
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := range 10 {
		wg.Go(func() {
			for j := range 100 {
				key := fmt.Sprintf("%s/%d/%d/k%d", dir, i, j%10, j)
				if err := st.Put(ctx, key, []byte(key), nil); err != nil {
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
	start := time.Now()
	pairs, err := st.List(ctx, dir, nil)
	if err != nil || len(pairs) != 1000 {
		t.Fatalf("List = %d pairs, %v; want 1000", len(pairs), err)
	}
	t.Logf("List of 1000 keys: %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	tree, err := st.WatchTree(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := kvtest.MustReceive(t, tree, faultBound, "first listing")
	t.Logf("first WatchTree listing of 1000 keys: %s", time.Since(start).Round(time.Millisecond))
	if !slices.EqualFunc(first, pairs, func(a, b *kvstore.KVPair) bool { return a.Key == b.Key && a.LastIndex == b.LastIndex }) {
		t.Fatalf("first listing differs from List")
	}
	if err := st.Put(ctx, dir+"/7/3/k53", []byte("changed"), nil); err != nil {
		t.Fatal(err)
	}
	next := kvtest.MustReceive(t, tree, faultBound, "listing after a change")
	i := slices.IndexFunc(next, func(p *kvstore.KVPair) bool { return p.Key == dir+"/7/3/k53" })
	if len(next) != 1000 || i < 0 || string(next[i].Value) != "changed" {
		t.Errorf("listing after a change: %d pairs, changed key at %d", len(next), i)
	}
	if err := st.DeleteTree(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := st.List(ctx, dir, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List after DeleteTree: %v", err)
	}
}
