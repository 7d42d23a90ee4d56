package kvtest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

var keyTests = []test{
	{"KeysCanonical", testKeysCanonical},
	{"KeysHostile", testKeysHostile},
	{"KeysInvalid", testKeysInvalid},
	{"KeysNegativeTTL", testKeysNegativeTTL},
}

// testKeysCanonical: "/a/b", "a/b" and "a//b/" are one key, and every key returned is "a/b".
// Guards libkv, whose Get returned the key as the caller spelled it (etcd v2, ZooKeeper, BoltDB)
// while List trimmed slashes on some backends, so keys read back did not match keys written.
func testKeysCanonical(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	key := dir + "/a/b"
	MustPut(t, st, "/"+dir+"/a/b", "v1", nil)
	for _, form := range []string{key, "/" + key, "//" + dir + "//a//b//", dir + "/a/b/"} {
		expectPair(t, "Get("+form+")", mustGet(t, st, form), key, "v1")
		if ok, err := st.Exists(t.Context(), form, nil); !ok || err != nil {
			t.Errorf("Exists(%q) = %v, %v; want true, nil", form, ok, err)
		}
	}
	MustPut(t, st, dir+"//a//b/", "v2", nil)
	expectPair(t, "Get after Put through another form", mustGet(t, st, key), key, "v2")
	expectKeys(t, "List("+dir+")", MustList(t, st, dir), key)
	expectKeys(t, "List(/"+dir+"//a/)", MustList(t, st, "/"+dir+"//a/"), key)

	ok, pair, err := st.AtomicPut(t.Context(), "/"+dir+"/c/", []byte("c"), nil, nil)
	if !ok || err != nil {
		t.Fatalf("AtomicPut(/%s/c/, nil) = %v, %v", dir, ok, err)
	}
	expectPair(t, "AtomicPut result", pair, dir+"/c", "c")
	if ok, err := st.AtomicDelete(t.Context(), dir+"//c", pair); !ok || err != nil {
		t.Errorf("AtomicDelete through another form = %v, %v", ok, err)
	}
	if err := st.Delete(t.Context(), "/"+key+"/"); err != nil {
		t.Errorf("Delete(/%s/): %v", key, err)
	}
	expectMissing(t, st, key)
}

// hostileSegments are valid key segments that backends must carry through unchanged: URL
// metacharacters (Consul and etcd v2 put keys in URL paths), etcd v2's hidden "_" prefix, dots,
// case, and characters ZooKeeper refuses in node names (U+E000-U+F8FF, U+FFF0-U+FFFF).
var hostileSegments = []string{
	"with space", "per%25cent", "100%", "q?x=1", "frag#ment", "plus+sign", "amp&eq=", "colon:at@",
	"back\\slash", "star*", "_hidden", ".dot", "...", "-dash", "Case", "case", "é", "日本", "🔑",
	"\ue000private", "\ufff9special", "'quote\"",
}

// testKeysHostile: keys made of URL metacharacters, unicode and backend-reserved names round-trip
// through every call, list in byte order, and stay distinct. Guards keys pasted unescaped into the
// URLs of Consul's and etcd v2's HTTP APIs ("a?b" writing "a"), etcd v2's hiding of "_" names from
// listings, and the characters ZooKeeper refuses in node names.
func testKeysHostile(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	var want []string
	for i, seg := range hostileSegments {
		key := dir + "/" + seg
		if i%2 == 1 {
			key = dir + "/" + seg + "/" + seg // also as a directory
		}
		MustPut(t, st, key, "v:"+seg, nil)
		expectPair(t, "Get("+key+")", mustGet(t, st, key), key, "v:"+seg)
		want = append(want, key)
	}
	slices.Sort(want)
	expectKeys(t, "List of hostile keys", MustList(t, st, dir), want...)
	for _, key := range want {
		if err := st.Delete(t.Context(), key); err != nil {
			t.Errorf("Delete(%q): %v", key, err)
		}
	}
	expectEmptyDir(t, st, dir)
}

// invalidKeys are rejected by every call. Each lies below dir, so a backend that wrongly wrote
// one would show it in List(dir).
func invalidKeys(dir string) map[string]string {
	return map[string]string{
		"empty":        "",
		"root":         "/",
		"slashes only": "///",
		"NUL byte":     dir + "/a\x00b",
		"control char": dir + "/a\nb",
		"dot-dot":      dir + "/../x",
		"dot":          dir + "/./x",
		"bad UTF-8":    dir + "/\xff\xfe",
		"too long":     dir + "/" + strings.Repeat("k", kvstore.MaxKeyLength),
	}
}

// testKeysInvalid: an invalid key is ErrInvalidKey on every call and writes nothing. Guards
// libkv, which passed any key to the server, so "a/../b" or a NUL byte was stored, refused or cut
// short differently by each backend.
func testKeysInvalid(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	ctx := t.Context()
	for name, key := range invalidKeys(dir) {
		call := func(op string, err error) {
			t.Helper()
			expectErr(t, op+" of "+name+" key", err, kvstore.ErrInvalidKey)
		}
		call("Put", st.Put(ctx, key, []byte("x"), nil))
		_, err := st.Get(ctx, key, nil)
		call("Get", err)
		call("Delete", st.Delete(ctx, key))
		_, err = st.Exists(ctx, key, nil)
		call("Exists", err)
		_, _, err = st.AtomicPut(ctx, key, []byte("x"), nil, nil)
		call("AtomicPut", err)
		_, err = st.AtomicDelete(ctx, key, &kvstore.KVPair{Key: key, Value: []byte{}, LastIndex: 1})
		call("AtomicDelete", err)
		if s.supports(CapWatch) {
			_, err = st.Watch(ctx, key, nil)
			call("Watch", err)
		}
		if s.supports(CapLock) {
			_, err = st.NewLock(ctx, key, nil)
			call("NewLock", err)
		}
		if kvstore.Canonical(key) == "" {
			continue // the root is a valid directory for List, DeleteTree and WatchTree
		}
		_, err = st.List(ctx, key, nil)
		call("List", err)
		call("DeleteTree", st.DeleteTree(ctx, key))
		if s.supports(CapWatch) {
			_, err = st.WatchTree(ctx, key, nil)
			call("WatchTree", err)
		}
	}
	expectEmptyDir(t, st, dir)
	// The limit is on the canonical form: slashes that normalisation removes do not count.
	long := dir + "/" + strings.Repeat("k", kvstore.MaxKeyLength-len(dir)-1)
	MustPut(t, st, "//"+long+"//", "max", nil)
	expectPair(t, "Get of a key of MaxKeyLength", mustGet(t, st, long), long, "max")
}

// testKeysNegativeTTL: a negative TTL is ErrInvalidOption and writes nothing, on backends with
// and without TTL support alike. Guards libkv, where etcd v2 converted the TTL to an unsigned
// number of seconds and ZooKeeper ignored anything not positive.
func testKeysNegativeTTL(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	neg := &kvstore.WriteOptions{TTL: -time.Second}
	expectErr(t, "Put with negative TTL", st.Put(t.Context(), dir+"/k", []byte("x"), neg), kvstore.ErrInvalidOption)
	_, _, err := st.AtomicPut(t.Context(), dir+"/k", []byte("x"), nil, neg)
	expectErr(t, "AtomicPut with negative TTL", err, kvstore.ErrInvalidOption)
	expectEmptyDir(t, st, dir)

	MustPut(t, st, dir+"/k", "kept", nil)
	prev := mustGet(t, st, dir+"/k")
	_, _, err = st.AtomicPut(t.Context(), dir+"/k", []byte("x"), prev, neg)
	expectErr(t, "AtomicPut over a key with negative TTL", err, kvstore.ErrInvalidOption)
	expectErr(t, "Put over a key with negative TTL", st.Put(t.Context(), dir+"/k", []byte("x"), neg), kvstore.ErrInvalidOption)
	if got := mustGet(t, st, dir+"/k"); !samePair(got, prev) {
		t.Errorf("after rejected writes Get = %s, want unchanged %s", fmtPair(got), fmtPair(prev))
	}
	if s.supports(CapLock) {
		// The option may be refused by NewLock or, at the latest, by Lock.
		lock, err := st.NewLock(t.Context(), dir+"/lock", &kvstore.LockOptions{TTL: -time.Second})
		if err == nil {
			var lost <-chan struct{}
			lost, err = lock.Lock(ctxWithin(t, 5*time.Second))
			if err == nil && lost != nil {
				_ = lock.Unlock(t.Context())
			}
		}
		expectErr(t, "lock with negative TTL", err, kvstore.ErrInvalidOption)
	}
}
