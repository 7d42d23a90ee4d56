package kvtest

import (
	"errors"
	"slices"
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
)

var listTests = []test{
	{"ListRecursive", testListRecursive},
	{"ListSiblings", testListSiblings},
	{"ListValueAndParent", testListValueAndParent},
	{"ListMissing", testListMissing},
	{"ListRoot", testListRoot},
	{"DeleteTree", testDeleteTree},
}

// testListRecursive: List returns every key below the directory at any depth, sorted by key
// (byte order of the whole key), with canonical keys, values, and each key's own index. Guards
// libkv's etcd v3 List, which returned only one level; its etcd v2 List, one level with
// sub-directories as empty values; and its ZooKeeper List, which returned child names, one
// level, each with the directory's version as index.
func testListRecursive(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	keys := []string{
		dir + "/a", dir + "/b/c", dir + "/b/d/e", dir + "/b/d/f/g/h", dir + "/z", dir + "/m/n",
		// '-' and '.' sort before '/': a tree walk sorting each level alone puts "b/..." first.
		dir + "/b-x", dir + "/b.y/z",
	}
	for _, k := range slices.Backward(keys) {
		MustPut(t, st, k, "v:"+k, nil)
	}
	want := slices.Sorted(slices.Values(keys))
	got := MustList(t, st, dir)
	expectKeys(t, "List", got, want...)
	for _, p := range got {
		checkPair(t, "List", p)
		if string(p.Value) != "v:"+p.Key {
			t.Errorf("List: %s has the wrong value", fmtPair(p))
		}
		if direct := mustGet(t, st, p.Key); direct.LastIndex != p.LastIndex {
			t.Errorf("List gives %s, Get gives %s: indexes differ", fmtPair(p), fmtPair(direct))
		}
	}
	expectKeys(t, "List of a subdirectory", MustList(t, st, dir+"/b"), dir+"/b/c", dir+"/b/d/e", dir+"/b/d/f/g/h")
	expectKeys(t, "List of a deep subdirectory", MustList(t, st, "/"+dir+"/b/d/f/"), dir+"/b/d/f/g/h")
}

// testListSiblings: a directory never lists siblings that merely share its string prefix.
// Guards libkv's Consul and BoltDB List, which scanned a raw string prefix, so that List("app")
// also returned "apple/x" and "app2".
func testListSiblings(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	for _, k := range []string{"app/x", "app/y/z", "apple/x", "app2", "app-1/x", "ap", "app.d/x"} {
		MustPut(t, st, dir+"/"+k, "v", nil)
	}
	expectKeys(t, "List(app)", MustList(t, st, dir+"/app"), dir+"/app/x", dir+"/app/y/z")
	expectKeys(t, "List(apple)", MustList(t, st, dir+"/apple"), dir+"/apple/x")
	_, err := st.List(t.Context(), dir+"/appl", nil)
	expectErr(t, "List(appl), a string prefix of existing keys only", err, kvstore.ErrKeyNotFound)
}

// testListValueAndParent: a key that is both a value and a parent ("a" and "a/b") lists its
// children only, and with no children lists empty rather than ErrKeyNotFound. Guards etcd v2,
// where a key cannot also be a directory, and prefix scans that list the directory's own key
// (libkv's BoltDB).
func testListValueAndParent(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	MustPut(t, st, dir+"/a", "parent", nil)
	got, err := st.List(t.Context(), dir+"/a", nil)
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("List of a key without children = %s, %v; want an empty non-nil slice, nil", fmtPairs(got), err)
	}
	MustPut(t, st, dir+"/a/b", "child", nil)
	got = MustList(t, st, dir+"/a")
	expectKeys(t, "List(a) with a and a/b", got, dir+"/a/b")
	expectKeys(t, "List of the parent", MustList(t, st, dir), dir+"/a", dir+"/a/b")
	expectPair(t, "Get(a) still holds its value", mustGet(t, st, dir+"/a"), dir+"/a", "parent")
}

// testListMissing: nothing at or below the directory is ErrKeyNotFound, also after the last key
// below it was deleted. Guards libkv's ZooKeeper and etcd v2 backends, whose emptied directory
// nodes lingered and listed as empty directories.
func testListMissing(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	got, err := st.List(t.Context(), dir, nil)
	if !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List of a missing directory = %s, %v; want ErrKeyNotFound", fmtPairs(got), err)
	}
	MustPut(t, st, dir+"/x/y", "v", nil)
	if err := st.Delete(t.Context(), dir+"/x/y"); err != nil {
		t.Fatal(err)
	}
	expectEmptyDir(t, st, dir)
	expectEmptyDir(t, st, dir+"/x")
}

// testListRoot: the root ("" or "/") lists every key, ours included, canonical and sorted.
// Guards backends that build the root listing from "/" and return keys with a leading slash, or
// reject the root as an empty key.
func testListRoot(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	MustPut(t, st, dir+"/k", "v", nil)
	for _, root := range []string{"", "/", "//"} {
		got := MustList(t, st, root)
		found := false
		for i, p := range got {
			checkPair(t, "List(root)", p)
			found = found || p.Key == dir+"/k"
			if i > 0 && got[i-1].Key >= p.Key {
				t.Errorf("List(%q) not sorted at %q, %q", root, got[i-1].Key, p.Key)
			}
		}
		if !found {
			t.Errorf("List(%q) lacks %q", root, dir+"/k")
		}
	}
	expectKeys(t, "List(kvtest/...) with a trailing slash", MustList(t, st, dir+"/"), dir+"/k")
}

// testDeleteTree: DeleteTree removes the directory itself and everything below at any depth,
// and nothing beside it; a missing tree is not an error. Guards libkv's BoltDB and Consul, which
// deleted by raw string prefix (taking "apple" with "app"), ZooKeeper's, which deleted one level
// and left the directory, and etcd v2's, which failed on a missing tree.
func testDeleteTree(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	for _, k := range []string{"app", "app/x", "app/y/z", "app/y/z/w/v", "apple", "apple/x", "app2", "ap"} {
		MustPut(t, st, dir+"/"+k, "v", nil)
	}
	if err := st.DeleteTree(t.Context(), "/"+dir+"/app/"); err != nil {
		t.Fatalf("DeleteTree: %v", err)
	}
	expectMissing(t, st, dir+"/app")
	expectMissing(t, st, dir+"/app/y/z/w/v")
	expectEmptyDir(t, st, dir+"/app")
	expectKeys(t, "List after DeleteTree", MustList(t, st, dir), dir+"/ap", dir+"/app2", dir+"/apple", dir+"/apple/x")
	if err := st.DeleteTree(t.Context(), dir+"/app"); err != nil {
		t.Errorf("DeleteTree of a missing tree: %v, want nil", err)
	}
	if err := st.DeleteTree(t.Context(), dir+"/ap"); err != nil {
		t.Errorf("DeleteTree of a plain key: %v", err)
	}
	expectMissing(t, st, dir+"/ap")
	expectKeys(t, "List after DeleteTree of a plain key", MustList(t, st, dir), dir+"/app2", dir+"/apple", dir+"/apple/x")
}
