package etcdv2_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestPlainFiles runs the tests of plain v2 data: files written by other v2 clients, exactly as
// etcdctl set or confd's users write them, are keys of the Store. Each test writes below its own
// prefix of one server.
func TestPlainFiles(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	for name, test := range map[string]func(*testing.T, *testserver.Server){
		"Read":       testPlainRead,
		"MixedTree":  testPlainMixedTree,
		"Put":        testPlainPut,
		"Atomic":     testPlainAtomic,
		"Delete":     testPlainDelete,
		"BelowPlain": testBelowPlain,
		"Lock":       testPlainLock,
		"Watch":      testPlainWatch,
		"WatchTree":  testPlainWatchTree,
		"Reshaped":   testPlainReshaped,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, server)
		})
	}
}

// setPlain writes key as another v2 client would: a plain file at /key.
func setPlain(t *testing.T, rk client.KeysAPI, key, value string, opts *client.SetOptions) *client.Response {
	t.Helper()
	resp, err := rk.Set(t.Context(), "/"+key, value, opts)
	if err != nil {
		t.Fatalf("raw set /%s: %v", key, err)
	}
	return resp
}

// rawNode returns the v2 node at /key, failing the test if there is none.
func rawNode(t *testing.T, rk client.KeysAPI, key string) *client.Node {
	t.Helper()
	resp, err := rk.Get(t.Context(), "/"+key, nil)
	if err != nil {
		t.Fatalf("raw get /%s: %v", key, err)
	}
	return resp.Node
}

func expectNoRawNode(t *testing.T, rk client.KeysAPI, key string) {
	t.Helper()
	if resp, err := rk.Get(t.Context(), "/"+key, nil); !client.IsKeyNotFound(err) {
		t.Errorf("raw node /%s = %v, %v; want it gone", key, resp, err)
	}
}

// expectPlain checks that key is still a plain file holding value, and that the Store reports
// the file's ModifiedIndex; it returns the pair.
func expectPlain(t *testing.T, st kvstore.Store, rk client.KeysAPI, key, value string) *kvstore.KVPair {
	t.Helper()
	node := rawNode(t, rk, key)
	if node.Dir || node.Value != value {
		t.Errorf("raw node /%s = %+v, want a plain file holding %q", key, node, value)
	}
	pair := kvtest.MustGet(t, st, key)
	if string(pair.Value) != value || pair.LastIndex != node.ModifiedIndex || pair.Key != key {
		t.Errorf("Get(%q) = %+v, want %q at the file's index %d", key, pair, value, node.ModifiedIndex)
	}
	return pair
}

// testPlainRead: plain files at any depth are keys for Get, Exists and List, with the file's
// ModifiedIndex as LastIndex; directories of plain files are no keys, and nothing is below a file.
func testPlainRead(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	dir := prefix(t)
	files := map[string]string{
		"top": "1", "app/db/host": "db.local", "app/db/port": "5432", "a/b/c/d/e/f": "deep",
		// Names that travel URL-escaped: etcd must name the file exactly as the Store does.
		"sp ace/ü": "x", "odd/%2F": "pct", "odd/?#&+": "query", "odd/a=b": "eq",
	}
	index := map[string]uint64{}
	for k, v := range files {
		index[dir+"/"+k] = setPlain(t, rk, dir+"/"+k, v, nil).Node.ModifiedIndex
	}
	for k, v := range files {
		key := dir + "/" + k
		for _, opts := range []*kvstore.ReadOptions{nil, {Consistent: true}} {
			p, err := st.Get(ctx, key, opts)
			if err != nil || p.Key != key || string(p.Value) != v || p.LastIndex != index[key] {
				t.Errorf("Get(%q, %+v) = %+v, %v; want %q at index %d", key, opts, p, err, v, index[key])
			}
		}
		if ok, err := st.Exists(ctx, key, nil); !ok || err != nil {
			t.Errorf("Exists(%q) = %v, %v", key, ok, err)
		}
	}
	for _, k := range []string{"app/db", "app", "app/db/user", "app/db/host/x", "top/x/y"} {
		if _, err := st.Get(ctx, dir+"/"+k, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
			t.Errorf("Get(%q): %v, want ErrKeyNotFound", k, err)
		}
		if ok, err := st.Exists(ctx, dir+"/"+k, nil); ok || err != nil {
			t.Errorf("Exists(%q) = %v, %v; want false", k, ok, err)
		}
	}

	pairs := kvtest.MustList(t, st, dir)
	var want []string
	for k := range files {
		want = append(want, dir+"/"+k)
	}
	slices.Sort(want)
	if got := keys(pairs); !slices.Equal(got, want) {
		t.Errorf("List(dir) = %q, want %q", got, want)
	}
	for _, p := range pairs {
		if string(p.Value) != files[strings.TrimPrefix(p.Key, dir+"/")] || p.LastIndex != index[p.Key] {
			t.Errorf("List(dir) holds %+v", p)
		}
	}
	if got := keys(kvtest.MustList(t, st, dir+"/app/db")); !slices.Equal(got, []string{dir + "/app/db/host", dir + "/app/db/port"}) {
		t.Errorf("List(app/db) = %q", got)
	}
	// A key with nothing below it lists empty; below a file there is nothing at all.
	if got, err := st.List(ctx, dir+"/app/db/host", nil); err != nil || got == nil || len(got) != 0 {
		t.Errorf("List of a plain key = %v, %v; want an empty slice", got, err)
	}
	if _, err := st.List(ctx, dir+"/app/db/host/x", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List below a plain file: %v, want ErrKeyNotFound", err)
	}
}

// testPlainMixedTree: plain files and keys of the layout in the same directories list together,
// sorted and complete, each once; plain names go through the layout's escaping, and names that
// etcd hides or that no key is stored as are left out.
func testPlainMixedTree(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	dir := prefix(t)
	plain := map[string]string{ // v2 path below dir -> key below dir
		"app/db/host": "app/db/host",
		"app/db/port": "app/db/port",
		"app/name":    "app/name",
		"app/==eq":    "app/=eq",
		"app/=_u":     "app/_u",
		"z":           "z",
	}
	for p := range plain {
		setPlain(t, rk, dir+"/"+p, "plain:"+plain[p], nil)
	}
	// No key: hidden by etcd, and a name the escaping never produces.
	setPlain(t, rk, dir+"/app/_hidden", "h", nil)
	setPlain(t, rk, dir+"/app/=bad", "b", nil)
	layout := []string{"app", "app/db", "app/db/user", "app/cache/size", "app/_v", "app/=w", "b"}
	for _, k := range layout {
		kvtest.MustPut(t, st, dir+"/"+k, "layout:"+k, nil)
	}

	var want []string
	for _, k := range plain {
		want = append(want, dir+"/"+k)
	}
	for _, k := range layout {
		want = append(want, dir+"/"+k)
	}
	slices.Sort(want)
	pairs := kvtest.MustList(t, st, dir)
	if got := keys(pairs); !slices.Equal(got, want) {
		t.Fatalf("List(dir) =\n%q\nwant\n%q", got, want)
	}
	for _, p := range pairs {
		k := strings.TrimPrefix(p.Key, dir+"/")
		if v := string(p.Value); v != "plain:"+k && v != "layout:"+k {
			t.Errorf("List: %q holds %q", p.Key, v)
		}
		if g := kvtest.MustGet(t, st, p.Key); !samePair(g, p) {
			t.Errorf("Get(%q) = %+v, List says %+v", p.Key, g, p)
		}
	}
	wantDB := []string{dir + "/app/db/host", dir + "/app/db/port", dir + "/app/db/user"}
	if got := keys(kvtest.MustList(t, st, dir+"/app/db")); !slices.Equal(got, wantDB) {
		t.Errorf("List(app/db) = %q, want %q", got, wantDB)
	}
	for _, k := range []string{"app/=bad", "app/bad", "app/_hidden", "app/==bad"} {
		if ok, err := st.Exists(ctx, dir+"/"+k, nil); ok || err != nil {
			t.Errorf("Exists(%q) = %v, %v; want false", k, ok, err)
		}
	}
}

// testPlainPut: Put updates a plain key in place, so that the other clients of the tree still
// read a file; a new key, or one whose file its owner deleted, is written in the layout.
func testPlainPut(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	dir := prefix(t)
	key := dir + "/k"
	setPlain(t, rk, key, "old", nil)
	before := kvtest.MustGet(t, st, key)
	kvtest.MustPut(t, st, key, "new", nil)
	if p := expectPlain(t, st, rk, key, "new"); p.LastIndex <= before.LastIndex {
		t.Errorf("LastIndex went from %d to %d", before.LastIndex, p.LastIndex)
	}

	if err := st.Put(ctx, key, []byte("ttl"), &kvstore.WriteOptions{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if node := rawNode(t, rk, key); node.Dir || node.TTL <= 0 {
		t.Errorf("after Put with a TTL: raw node %+v, want a file with a TTL", node)
	}
	kvtest.MustPut(t, st, key, "permanent", nil)
	if node := rawNode(t, rk, key); node.Dir || node.TTL != 0 || node.Expiration != nil {
		t.Errorf("after Put without a TTL: raw node %+v, want a permanent file", node)
	}
	binary := []byte{0xff, 0, 'x'}
	if err := st.Put(ctx, key, binary, nil); err != nil {
		t.Fatal(err)
	}
	if p := kvtest.MustGet(t, st, key); !bytes.Equal(p.Value, binary) || rawNode(t, rk, key).Dir {
		t.Errorf("binary value on a plain key: Get = %q", p.Value)
	}

	for _, odd := range []string{dir + "/%2F", dir + "/?#&+"} {
		setPlain(t, rk, odd, "plain", nil)
		kvtest.MustPut(t, st, odd, "put", nil)
		expectPlain(t, st, rk, odd, "put")
	}

	kvtest.MustPut(t, st, dir+"/new", "v", nil)
	if node := rawNode(t, rk, dir+"/new/="); node.Value != "v" {
		t.Errorf("a new key next to plain ones: %+v, want it in the layout", node)
	}
	if _, err := rk.Delete(ctx, "/"+key, nil); err != nil {
		t.Fatal(err)
	}
	kvtest.MustPut(t, st, key, "again", nil)
	if node := rawNode(t, rk, key); !node.Dir {
		t.Errorf("Put after the file was deleted: raw node %+v, want the layout's directory", node)
	}
	if p := kvtest.MustGet(t, st, key); string(p.Value) != "again" {
		t.Errorf("Get = %+v", p)
	}
}

// testPlainAtomic: AtomicPut and AtomicDelete compare a plain key by its file's ModifiedIndex
// and change it in place; a create finds it there.
func testPlainAtomic(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	key := prefix(t) + "/k"
	setPlain(t, rk, key, "v0", nil)
	p0 := kvtest.MustGet(t, st, key)

	if _, _, err := st.AtomicPut(ctx, key, []byte("x"), nil, nil); !errors.Is(err, kvstore.ErrKeyExists) {
		t.Errorf("AtomicPut(create) of a plain key: %v, want ErrKeyExists", err)
	}
	stale := &kvstore.KVPair{Key: key, Value: p0.Value, LastIndex: p0.LastIndex + 1000}
	if _, _, err := st.AtomicPut(ctx, key, []byte("x"), stale, nil); !errors.Is(err, kvstore.ErrKeyModified) {
		t.Errorf("AtomicPut with a wrong index: %v, want ErrKeyModified", err)
	}
	ok, p1, err := st.AtomicPut(ctx, key, []byte("v1"), p0, nil)
	if !ok || err != nil {
		t.Fatalf("AtomicPut(v1) = %v, %v", ok, err)
	}
	if got := expectPlain(t, st, rk, key, "v1"); !samePair(got, p1) {
		t.Errorf("AtomicPut returned %+v, Get says %+v", p1, got)
	}
	if _, _, err := st.AtomicPut(ctx, key, []byte("x"), p0, nil); !errors.Is(err, kvstore.ErrKeyModified) {
		t.Errorf("AtomicPut with the previous pair used already: %v, want ErrKeyModified", err)
	}
	if ok, _, err := st.AtomicPut(ctx, key, []byte("v2"), p1, nil); !ok || err != nil {
		t.Fatalf("AtomicPut(v2) with the pair AtomicPut returned = %v, %v", ok, err)
	}
	p2 := expectPlain(t, st, rk, key, "v2")

	// Another client writes the file: the Store's pair is stale.
	setPlain(t, rk, key, "theirs", nil)
	if _, _, err := st.AtomicPut(ctx, key, []byte("mine"), p2, nil); !errors.Is(err, kvstore.ErrKeyModified) {
		t.Errorf("AtomicPut after another client's write: %v, want ErrKeyModified", err)
	}
	if _, err := st.AtomicDelete(ctx, key, p2); !errors.Is(err, kvstore.ErrKeyModified) {
		t.Errorf("AtomicDelete with a stale pair: %v, want ErrKeyModified", err)
	}
	p3 := expectPlain(t, st, rk, key, "theirs")
	if ok, err := st.AtomicDelete(ctx, key, p3); !ok || err != nil {
		t.Fatalf("AtomicDelete = %v, %v", ok, err)
	}
	expectNoRawNode(t, rk, key)
	if _, _, err := st.AtomicPut(ctx, key, []byte("x"), p3, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("AtomicPut of a deleted plain key: %v, want ErrKeyNotFound", err)
	}
	if _, err := st.AtomicDelete(ctx, key, p3); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("AtomicDelete of a deleted plain key: %v, want ErrKeyNotFound", err)
	}
}

// testPlainDelete: Delete removes a plain key's file and the directories that leaves empty, and
// nothing else; DeleteTree removes plain files as it removes keys of the layout.
func testPlainDelete(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	dir := prefix(t)
	setPlain(t, rk, dir+"/d/k", "v", nil)
	setPlain(t, rk, dir+"/d/sibling", "s", nil)
	setPlain(t, rk, dir+"/solo/only", "o", nil)

	if err := st.Delete(ctx, dir+"/d/k"); err != nil {
		t.Fatalf("Delete of a plain key: %v", err)
	}
	expectNoRawNode(t, rk, dir+"/d/k")
	if _, err := st.Get(ctx, dir+"/d/k", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	expectPlain(t, st, rk, dir+"/d/sibling", "s")
	if err := st.Delete(ctx, dir+"/d/k"); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("second Delete: %v, want ErrKeyNotFound", err)
	}
	if err := st.Delete(ctx, dir+"/solo/only"); err != nil {
		t.Fatal(err)
	}
	expectNoRawNode(t, rk, dir+"/solo")

	setPlain(t, rk, dir+"/t", "v", nil)
	if err := st.DeleteTree(ctx, dir+"/t"); err != nil {
		t.Fatalf("DeleteTree of a plain key: %v", err)
	}
	expectNoRawNode(t, rk, dir+"/t")

	setPlain(t, rk, dir+"/tree/a/b", "1", nil)
	setPlain(t, rk, dir+"/tree/c", "2", nil)
	kvtest.MustPut(t, st, dir+"/tree", "own", nil)
	kvtest.MustPut(t, st, dir+"/tree/a", "3", nil)
	setPlain(t, rk, dir+"/treeish", "not below tree", nil)
	if err := st.DeleteTree(ctx, dir+"/tree"); err != nil {
		t.Fatalf("DeleteTree of a mixed tree: %v", err)
	}
	expectNoRawNode(t, rk, dir+"/tree")
	if got := keys(kvtest.MustList(t, st, dir)); !slices.Equal(got, []string{dir + "/d/sibling", dir + "/treeish"}) {
		t.Errorf("List after the deletes = %q", got)
	}
}

// testBelowPlain: a key below a plain file cannot be written, as v2 cannot give a file children;
// the writes that would need to say so with a PlainFileError naming the file's key, the others
// find no key, and the file is left alone.
func testBelowPlain(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	file := prefix(t) + "/f"
	setPlain(t, rk, file, "file", nil)
	for _, below := range []string{file + "/x", file + "/x/y"} {
		checkPlainErr := func(what string, err error) {
			t.Helper()
			var pe *etcdv2.PlainFileError
			if !errors.As(err, &pe) || pe.Key != file || pe.Path != "/"+file || !errors.Is(err, etcdv2.ErrForeignNode) {
				t.Errorf("%s(%q): %v, want a PlainFileError for %q, an ErrForeignNode", what, below, err, file)
				return
			}
			if !strings.Contains(err.Error(), file) {
				t.Errorf("%s(%q): message %q does not name the file", what, below, err)
			}
		}
		err := st.Put(ctx, below, []byte("x"), nil)
		checkPlainErr("Put", err)
		t.Logf("Put below a plain file: %v", err)
		_, _, err = st.AtomicPut(ctx, below, []byte("x"), nil, nil)
		checkPlainErr("AtomicPut(create)", err)
		lock, err := st.NewLock(ctx, below, &kvstore.LockOptions{TTL: lockTTL})
		if err != nil {
			t.Fatal(err)
		}
		lockCtx, cancel := context.WithTimeout(ctx, eventBound)
		_, err = lock.Lock(lockCtx)
		cancel()
		checkPlainErr("Lock", err)

		previous := &kvstore.KVPair{Key: below, LastIndex: 1}
		if _, _, err := st.AtomicPut(ctx, below, []byte("x"), previous, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
			t.Errorf("AtomicPut(%q, previous): %v, want ErrKeyNotFound", below, err)
		}
		if _, err := st.AtomicDelete(ctx, below, previous); !errors.Is(err, kvstore.ErrKeyNotFound) {
			t.Errorf("AtomicDelete(%q): %v, want ErrKeyNotFound", below, err)
		}
		if err := st.Delete(ctx, below); !errors.Is(err, kvstore.ErrKeyNotFound) {
			t.Errorf("Delete(%q): %v, want ErrKeyNotFound", below, err)
		}
		if _, err := st.Get(ctx, below, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
			t.Errorf("Get(%q): %v, want ErrKeyNotFound", below, err)
		}
		if _, err := st.List(ctx, below, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
			t.Errorf("List(%q): %v, want ErrKeyNotFound", below, err)
		}
		if err := st.DeleteTree(ctx, below); err != nil {
			t.Errorf("DeleteTree(%q): %v, want nil (nothing there)", below, err)
		}
	}
	expectPlain(t, st, rk, file, "file")
}

// testPlainLock: a lock on a plain key holds the key in place, keeps it through its refreshes,
// and deletes the file on release, as it deletes a key of the layout.
func testPlainLock(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	key := prefix(t) + "/lock"
	setPlain(t, rk, key, "free", nil)
	lock, lost := mustLock(t, st, key, "me")
	expectPlain(t, st, rk, key, "me")
	time.Sleep(lockTTL + lockTTL/2) // the keeper refreshes the file at least once
	select {
	case <-lost:
		t.Fatal("the lock on a plain key was lost while held")
	default:
	}
	expectPlain(t, st, rk, key, "me")
	if err := lock.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	expectNoRawNode(t, rk, key)
}

// testPlainWatch: Watch reports a plain key's writes as other clients make them, follows the key
// when it turns from a plain file into a key of the layout and back, and drops writes below it.
func testPlainWatch(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	dir := prefix(t)
	key := dir + "/w"
	expectPair := func(what string, ch <-chan *kvstore.KVPair, value string, index uint64) {
		t.Helper()
		want := &kvstore.KVPair{Key: key, Value: []byte(value), LastIndex: index}
		if got := kvtest.MustReceive(t, ch, eventBound, what); !samePair(got, want) {
			t.Fatalf("%s: %+v, want %+v", what, got, want)
		}
	}
	expectNil := func(what string, ch <-chan *kvstore.KVPair) {
		t.Helper()
		if got := kvtest.MustReceive(t, ch, eventBound, what); got != nil {
			t.Fatalf("%s: %+v, want nil", what, got)
		}
	}

	ch, err := st.Watch(ctx, key, nil) // the key does not exist yet: no first event
	if err != nil {
		t.Fatal(err)
	}
	r := setPlain(t, rk, key, "1", nil)
	expectPair("plain create", ch, "1", r.Node.ModifiedIndex)
	r = setPlain(t, rk, key, "2", nil)
	expectPair("plain update", ch, "2", r.Node.ModifiedIndex)
	kvtest.MustPut(t, st, key, "3", nil)
	expectPair("Put of the plain key", ch, "3", kvtest.MustGet(t, st, key).LastIndex)
	if _, err := rk.Delete(ctx, "/"+key, nil); err != nil {
		t.Fatal(err)
	}
	expectNil("plain delete", ch)

	kvtest.MustPut(t, st, key, "4", nil) // now in the layout
	expectPair("Put in the layout", ch, "4", kvtest.MustGet(t, st, key).LastIndex)
	kvtest.MustPut(t, st, key+"/below", "b", nil)
	if err := st.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	expectNil("Delete in the layout, after a write below the key", ch)
	if err := st.DeleteTree(ctx, key); err != nil {
		t.Fatal(err)
	}
	r = setPlain(t, rk, key, "5", &client.SetOptions{TTL: time.Second})
	expectPair("plain create after the layout", ch, "5", r.Node.ModifiedIndex)
	expectNil("plain expiry", ch)

	// A watch of a plain key that exists starts with its pair.
	r = setPlain(t, rk, dir+"/x/y", "deep", nil)
	deep, err := st.Watch(ctx, dir+"/x/y", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := kvtest.MustReceive(t, deep, eventBound, "first event"); got == nil || string(got.Value) != "deep" || got.LastIndex != r.Node.ModifiedIndex {
		t.Fatalf("first event of a plain key = %+v", got)
	}
	if err := st.DeleteTree(ctx, dir+"/x"); err != nil {
		t.Fatal(err)
	}
	if got := kvtest.MustReceive(t, deep, eventBound, "DeleteTree above"); got != nil {
		t.Fatalf("DeleteTree above a plain key: %+v, want nil", got)
	}
}

// testPlainWatchTree: WatchTree reports plain files at any depth with the keys of the layout;
// after each change its listing comes to equal List.
func testPlainWatchTree(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	dir := prefix(t)
	setPlain(t, rk, dir+"/first", "0", nil)
	ch, err := st.WatchTree(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := kvtest.MustReceive(t, ch, eventBound, "first listing"); len(got) != 1 || got[0].Key != dir+"/first" {
		t.Fatalf("first listing = %v", got)
	}
	// Each step waits for the listing to equal List: WatchTree may coalesce changes.
	await := func(what string) {
		t.Helper()
		want := kvtest.MustList(t, st, dir)
		for deadline := time.Now().Add(eventBound); ; {
			got := kvtest.MustReceive(t, ch, eventBound, what)
			if slices.EqualFunc(got, want, samePair) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: listing %v, want %v", what, got, want)
			}
		}
	}
	setPlain(t, rk, dir+"/a/b/c", "deep", nil)
	await("plain create at depth")
	kvtest.MustPut(t, st, dir+"/a", "layout", nil)
	await("Put in the layout")
	setPlain(t, rk, dir+"/a/b/c", "changed", nil)
	await("plain update")
	if _, err := rk.Delete(ctx, "/"+dir+"/first", nil); err != nil {
		t.Fatal(err)
	}
	await("plain delete")
	kvtest.MustPut(t, st, dir+"/a/b/c", "Put in place", nil)
	await("Put of a plain key")
	if got := keys(kvtest.MustList(t, st, dir)); !slices.Equal(got, []string{dir + "/a", dir + "/a/b/c"}) {
		t.Errorf("final List = %q", got)
	}
}

// testPlainReshaped: another client deletes a plain key's file, and maybe writes the key in the
// layout, between the request of a call that finds the file and the one that acts on it. Each
// call then ends as it would have, had it come after that change.
func testPlainReshaped(t *testing.T, server *testserver.Server) {
	other, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	type change int
	const (
		deleted change = iota // the file is deleted
		laidOut               // the file is deleted and the key written in the layout
	)
	cases := []struct {
		name   string
		change change
		call   func(st kvstore.Store, key string, previous *kvstore.KVPair) error
		want   error  // the call's error
		value  string // what Get returns after the call, "" for no key
	}{
		{"Get", laidOut, func(st kvstore.Store, key string, _ *kvstore.KVPair) error {
			p, err := st.Get(ctx, key, nil)
			if err == nil && string(p.Value) != "layout" {
				t.Errorf("Get = %+v, want the key of the layout", p)
			}
			return err
		}, nil, "layout"},
		{"GetDeleted", deleted, func(st kvstore.Store, key string, _ *kvstore.KVPair) error {
			_, err := st.Get(ctx, key, nil)
			return err
		}, kvstore.ErrKeyNotFound, ""},
		{"Put", laidOut, func(st kvstore.Store, key string, _ *kvstore.KVPair) error {
			return st.Put(ctx, key, []byte("mine"), nil)
		}, nil, "mine"},
		{"PutDeleted", deleted, func(st kvstore.Store, key string, _ *kvstore.KVPair) error {
			return st.Put(ctx, key, []byte("mine"), nil)
		}, nil, "mine"},
		{"Delete", laidOut, func(st kvstore.Store, key string, _ *kvstore.KVPair) error {
			return st.Delete(ctx, key)
		}, nil, ""},
		{"DeleteDeleted", deleted, func(st kvstore.Store, key string, _ *kvstore.KVPair) error {
			return st.Delete(ctx, key)
		}, kvstore.ErrKeyNotFound, ""},
		{"AtomicPut", laidOut, func(st kvstore.Store, key string, previous *kvstore.KVPair) error {
			_, _, err := st.AtomicPut(ctx, key, []byte("mine"), previous, nil)
			return err
		}, kvstore.ErrKeyModified, "layout"},
		{"AtomicPutDeleted", deleted, func(st kvstore.Store, key string, previous *kvstore.KVPair) error {
			_, _, err := st.AtomicPut(ctx, key, []byte("mine"), previous, nil)
			return err
		}, kvstore.ErrKeyNotFound, ""},
		{"AtomicDelete", laidOut, func(st kvstore.Store, key string, previous *kvstore.KVPair) error {
			_, err := st.AtomicDelete(ctx, key, previous)
			return err
		}, kvstore.ErrKeyModified, "layout"},
	}
	dir := prefix(t)
	for _, tc := range cases {
		st := open(t, server, nil)
		key := dir + "/" + tc.name
		setPlain(t, rk, key, "plain", nil)
		previous := kvtest.MustGet(t, st, key)
		ran := false
		etcdv2.SetReshaped(st, func() {
			if ran {
				return
			}
			ran = true
			if _, err := rk.Delete(ctx, "/"+key, nil); err != nil {
				t.Errorf("%s: raw delete: %v", tc.name, err)
			}
			if tc.change == laidOut {
				kvtest.MustPut(t, other, key, "layout", nil)
			}
		})
		err := tc.call(st, key, previous)
		if !ran {
			t.Errorf("%s: the change was never made", tc.name)
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		p, err := other.Get(ctx, key, nil)
		switch {
		case tc.value == "" && !errors.Is(err, kvstore.ErrKeyNotFound):
			t.Errorf("%s: then Get = %+v, %v; want no key", tc.name, p, err)
		case tc.value != "" && (err != nil || string(p.Value) != tc.value):
			t.Errorf("%s: then Get = %+v, %v; want %q", tc.name, p, err, tc.value)
		case tc.value != "" && !rawNode(t, rk, key).Dir:
			t.Errorf("%s: the key is a plain file again; the Store never creates one", tc.name)
		}
	}
}
