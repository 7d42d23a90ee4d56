package etcdv2_test

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"testing"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// raw returns a plain v2 client of server, to look at the nodes behind the Store or to play
// another v2 client. Keep-alives are off so that no connection outlives the test.
func raw(t *testing.T, server *testserver.Server) client.KeysAPI {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	c, err := client.New(client.Config{Endpoints: []string{"http://" + server.Endpoints[0]}, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	return client.NewKeysAPI(c)
}

func prefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "etcdv2/" + hex.EncodeToString(b)
}

func keys(pairs []*kvstore.KVPair) []string {
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p.Key
	}
	return out
}

// TestLayoutOnServer runs the tests of the key layout against one server; each writes below its
// own prefix.
func TestLayoutOnServer(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	for name, test := range map[string]func(*testing.T, *testserver.Server){
		"KeyAndDirectory":       testKeyAndDirectory,
		"ReservedNames":         testReservedNames,
		"ForeignNode":           testForeignNode,
		"LockBookkeepingHidden": testLockBookkeepingHidden,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, server)
		})
	}
}

// testKeyAndDirectory shows the v2 file/directory duality hidden: "a" holds a value and has
// keys below it, each part deletable on its own, with the nodes laid out as documented.
func testKeyAndDirectory(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	dir := prefix(t)
	a, ab, abc := dir+"/a", dir+"/a/b", dir+"/a/b/c"
	for _, k := range []string{ab, a, abc} { // a child before its parent, and after
		if err := st.Put(ctx, k, []byte("v:"+k), nil); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
	}
	if got := keys(kvtest.MustList(t, st, a)); !slices.Equal(got, []string{ab, abc}) {
		t.Errorf("List(a) = %q, want a/b and a/b/c", got)
	}
	if got := keys(kvtest.MustList(t, st, dir)); !slices.Equal(got, []string{a, ab, abc}) {
		t.Errorf("List(dir) = %q", got)
	}
	resp, err := rk.Get(ctx, "/"+a+"/=", nil)
	if err != nil || resp.Node.Value != "v:"+a {
		t.Errorf("raw node /%s/= = %v, %v; want the value of %q, stored as it is", a, resp, err, a)
	}

	if err := st.Delete(ctx, a); err != nil {
		t.Fatalf("Delete(a): %v", err)
	}
	if _, err := st.Get(ctx, a, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("Get(a) after Delete(a): %v, want ErrKeyNotFound", err)
	}
	if got := keys(kvtest.MustList(t, st, a)); !slices.Equal(got, []string{ab, abc}) {
		t.Errorf("List(a) after Delete(a) = %q, want a/b and a/b/c kept", got)
	}
	if err := st.Delete(ctx, ab); err != nil {
		t.Fatalf("Delete(a/b): %v", err)
	}
	if p, err := st.Get(ctx, abc, nil); err != nil || string(p.Value) != "v:"+abc {
		t.Errorf("Get(a/b/c) after Delete(a/b) = %v, %v", p, err)
	}

	if err := st.Put(ctx, a, []byte("again"), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteTree(ctx, a); err != nil {
		t.Fatalf("DeleteTree(a): %v", err)
	}
	for _, k := range []string{a, ab, abc} {
		if ok, err := st.Exists(ctx, k, nil); ok || err != nil {
			t.Errorf("Exists(%q) after DeleteTree(a) = %v, %v", k, ok, err)
		}
	}
	if _, err := st.List(ctx, a, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List(a) after DeleteTree(a): %v, want ErrKeyNotFound", err)
	}
	// Delete and DeleteTree leave no empty directory behind.
	if _, err := rk.Get(ctx, "/"+dir, nil); !client.IsKeyNotFound(err) {
		t.Errorf("raw directory /%s after deleting everything below it: %v, want it gone", dir, err)
	}
}

// testReservedNames: segments that look like the layout's own names are keys like any other.
func testReservedNames(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	dir := prefix(t)
	names := []string{"=", "==", "=x", "_", "_x", "x=", "x_", "_kvmirror", "a/=", "a/_"}
	for _, n := range names {
		if err := st.Put(ctx, dir+"/"+n, []byte(n), nil); err != nil {
			t.Fatalf("Put(%q): %v", n, err)
		}
	}
	pairs := kvtest.MustList(t, st, dir)
	var got []string
	for _, p := range pairs {
		got = append(got, p.Key[len(dir)+1:])
		if string(p.Value) != p.Key[len(dir)+1:] {
			t.Errorf("%q holds %q", p.Key, p.Value)
		}
	}
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	// "_x" must not be hidden from other v2 clients either.
	resp, err := rk.Get(ctx, "/"+dir, &client.GetOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := countFiles(resp.Node); n != len(names) {
		t.Errorf("a plain recursive v2 read sees %d value files, want %d", n, len(names))
	}
}

func countFiles(n *client.Node) int {
	if !n.Dir {
		return 1
	}
	total := 0
	for _, c := range n.Nodes {
		total += countFiles(c)
	}
	return total
}

// testForeignNode: a directory named like a value file, which only another v2 client makes,
// is no key's value; reads see nothing there, writes of that key fail with ErrForeignNode, and
// the directory is kept. (Plain files are keys: see plain_test.go.)
func testForeignNode(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	key := prefix(t) + "/k"
	if _, err := rk.Set(ctx, "/"+key+"/=/inside", "foreign", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, key, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("Get of a key whose value file is a directory: %v, want ErrKeyNotFound", err)
	}
	if err := st.Put(ctx, key, []byte("x"), nil); !errors.Is(err, etcdv2.ErrForeignNode) {
		t.Errorf("Put of a key whose value file is a directory: %v, want ErrForeignNode", err)
	}
	if err := st.Delete(ctx, key); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("Delete of a key whose value file is a directory: %v, want ErrKeyNotFound, as Get says", err)
	}
	if resp, err := rk.Get(ctx, "/"+key+"/=/inside", nil); err != nil || resp.Node.Value != "foreign" {
		t.Errorf("foreign node after the Store's attempts: %v, %v", resp, err)
	}
}

// testLockBookkeepingHidden: a held lock's queue lives under the hidden root, which no listing
// reaches, and is gone after Unlock.
func testLockBookkeepingHidden(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	ctx := t.Context()
	key := prefix(t) + "/_lock"
	lock, err := st.NewLock(ctx, key, &kvstore.LockOptions{Value: []byte("me")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	queue, err := rk.Get(ctx, etcdv2.QueuePath(key), nil)
	if err != nil || len(queue.Node.Nodes) != 1 {
		t.Fatalf("lock queue %s = %v, %v; want one node", etcdv2.QueuePath(key), queue, err)
	}
	for _, p := range kvtest.MustList(t, st, "") {
		if !kvstore.IsBelow("etcdv2", p.Key) { // every test of this server writes below etcdv2/
			t.Errorf("List(root) shows %q", p.Key)
		}
	}
	if err := lock.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rk.Get(ctx, etcdv2.QueuePath(key), nil); !client.IsKeyNotFound(err) {
		t.Errorf("lock queue after Unlock: %v, want it gone", err)
	}
}
