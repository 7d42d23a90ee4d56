package kvtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
)

var crudTests = []test{
	{"PutGetDelete", testPutGetDelete},
	{"ImplicitDirectories", testImplicitDirectories},
	{"ValuesAreCopies", testValuesAreCopies},
	{"ConsistentRead", testConsistentRead},
	{"MissingKey", testMissingKey},
	{"EmptyValue", testEmptyValue},
	{"BinaryValue", testBinaryValue},
	{"LargeValue", testLargeValue},
	{"CancelledContext", testCancelledContext},
	{"ConcurrentOps", testConcurrentOps},
}

// testPutGetDelete: the basic cycle, from two Stores; Delete leaves keys below the deleted one
// alone; IsDir changes nothing. Guards libkv's ZooKeeper Delete, which failed on a node with
// children, and etcd v2, where a key could not also be a directory.
func testPutGetDelete(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	key := dir + "/k"
	MustPut(t, st, key, "v1", nil)
	expectPair(t, "Get", mustGet(t, st, key), key, "v1")
	MustPut(t, st, key, "v2", nil)
	expectPair(t, "Get after overwrite", mustGet(t, st, key), key, "v2")
	if ok, err := st.Exists(t.Context(), key, nil); !ok || err != nil {
		t.Errorf("Exists = %v, %v; want true, nil", ok, err)
	}
	// IsDir is accepted for libkv callers and changes nothing: the key still holds a value.
	MustPut(t, st, key+"/child", "c", &kvstore.WriteOptions{IsDir: true})
	expectPair(t, "Get after Put with IsDir", mustGet(t, st, key+"/child"), key+"/child", "c")
	if err := st.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete of a key that has children: %v", err)
	}
	expectMissing(t, st, key)
	expectPair(t, "Get of the child after Delete of its parent", mustGet(t, st, key+"/child"), key+"/child", "c")
	// Another Store sees the same data: nothing is cached per client.
	other := s.open(t)
	expectPair(t, "Get from another Store", mustGet(t, other, key+"/child"), key+"/child", "c")
	expectMissing(t, other, key)
}

// testImplicitDirectories: a directory exists only through the keys below it: it is not a key
// (Get, Exists, Delete and Watch see nothing), it can become one later, and it vanishes with its
// last key. Guards libkv's ZooKeeper and etcd v2 backends, which created real directory nodes:
// Get returned them as empty values, and they outlived their children.
func testImplicitDirectories(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	MustPut(t, st, dir+"/a/b/c", "c", nil)
	for _, d := range []string{dir + "/a", dir + "/a/b"} {
		expectMissing(t, st, d)
		expectErr(t, "Delete of the directory "+d, st.Delete(t.Context(), d), kvstore.ErrKeyNotFound)
	}
	expectKeys(t, "List after Delete of directories", MustList(t, st, dir+"/a"), dir+"/a/b/c")
	if s.supports(CapWatch) {
		ch, err := st.Watch(t.Context(), dir+"/a/b", nil)
		if err != nil {
			t.Fatal(err)
		}
		ExpectQuiet(t, ch, quietPeriod, "Watch of a directory that is not a key")
	}
	MustPut(t, st, dir+"/a/b", "now a key", nil)
	expectPair(t, "Get of a directory made a key", mustGet(t, st, dir+"/a/b"), dir+"/a/b", "now a key")
	expectKeys(t, "List(a)", MustList(t, st, dir+"/a"), dir+"/a/b", dir+"/a/b/c")
	for _, k := range []string{dir + "/a/b/c", dir + "/a/b"} {
		if err := st.Delete(t.Context(), k); err != nil {
			t.Fatalf("Delete(%q): %v", k, err)
		}
	}
	expectEmptyDir(t, st, dir+"/a")
	expectEmptyDir(t, st, dir)
}

// testValuesAreCopies: the Store keeps no reference to the caller's value, and the caller may
// modify a value it got back. Guards libkv's BoltDB AtomicPut, whose returned pair shared the
// caller's slice, and BoltDB reads returning bbolt's memory-mapped slices, valid only inside
// their transaction and read-only.
func testValuesAreCopies(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	buf := []byte("original")
	if err := st.Put(t.Context(), key, buf, nil); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXX")
	got := mustGet(t, st, key)
	expectPair(t, "Get after the caller reused its buffer", got, key, "original")
	copy(got.Value, "YYYYYYYY")
	expectPair(t, "Get after the caller modified a returned value", mustGet(t, st, key), key, "original")
}

// testConsistentRead: a consistent read from another Store sees a write that completed before
// it, every time. Guards backends that ignore the option: a ZooKeeper server answers reads from
// its own, possibly lagging, state unless a sync precedes them.
func testConsistentRead(t *testing.T, s Suite) {
	writer, reader := s.open(t), s.open(t)
	dir := randomPrefix(t)
	key := dir + "/k"
	consistent := &kvstore.ReadOptions{Consistent: true}
	for i := range 20 {
		v := fmt.Sprint(i)
		MustPut(t, writer, key, v, nil)
		got, err := reader.Get(t.Context(), key, consistent)
		if err != nil || string(got.Value) != v {
			t.Fatalf("consistent Get after write %d = %s, %v", i, fmtPair(got), err)
		}
		if pairs, err := reader.List(t.Context(), dir, consistent); err != nil || len(pairs) != 1 || string(pairs[0].Value) != v {
			t.Fatalf("consistent List after write %d = %s, %v", i, fmtPairs(pairs), err)
		}
	}
}

// testMissingKey: Get and Delete of a missing key are ErrKeyNotFound, Exists is false, nil.
// Guards libkv, where Delete of a missing key succeeded on Consul and BoltDB and returned etcd's
// raw error 100 on etcd v2.
func testMissingKey(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/missing"
	pair, err := st.Get(t.Context(), key, nil)
	if !errors.Is(err, kvstore.ErrKeyNotFound) || pair != nil {
		t.Errorf("Get of a missing key = %s, %v; want nil, ErrKeyNotFound", fmtPair(pair), err)
	}
	expectErr(t, "Delete of a missing key", st.Delete(t.Context(), key), kvstore.ErrKeyNotFound)
	expectMissing(t, st, key)
	// Consistent reads go through the same path on backends that distinguish them.
	if _, err := st.Get(t.Context(), key, &kvstore.ReadOptions{Consistent: true}); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("consistent Get of a missing key: %v, want ErrKeyNotFound", err)
	}
}

// testEmptyValue: an empty value round-trips as an empty, non-nil slice, from a nil or an empty
// Put, through Get, List and AtomicPut. Guards libkv's ZooKeeper Get, which took an empty value for
// a half-written node and re-synced five times, and Consul's API, which returns a nil Value for
// an empty one.
func testEmptyValue(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	if err := st.Put(t.Context(), dir+"/nil", nil, nil); err != nil {
		t.Fatalf("Put of a nil value: %v", err)
	}
	MustPut(t, st, dir+"/empty", "", nil)
	for _, key := range []string{dir + "/nil", dir + "/empty"} {
		expectPair(t, "Get", mustGet(t, st, key), key, "")
	}
	for _, p := range MustList(t, st, dir) {
		checkPair(t, "List", p)
	}
	ok, pair, err := st.AtomicPut(t.Context(), dir+"/atomic", nil, nil, nil)
	if !ok || err != nil {
		t.Fatalf("AtomicPut of a nil value = %v, %v", ok, err)
	}
	expectPair(t, "AtomicPut result", pair, dir+"/atomic", "")
}

// testBinaryValue: every byte value round-trips. Guards libkv's etcd v2 backend, which sent
// values as strings through a JSON API, where invalid UTF-8 does not survive.
func testBinaryValue(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	key := dir + "/bin"
	value := make([]byte, 0, 512)
	for i := range 256 {
		value = append(value, byte(i))
	}
	for i := range 256 {
		value = append(value, byte(255-i))
	}
	if err := st.Put(t.Context(), key, value, nil); err != nil {
		t.Fatalf("Put of a binary value: %v", err)
	}
	if got := mustGet(t, st, key); !bytes.Equal(got.Value, value) {
		t.Errorf("binary value changed: got %x, want %x", got.Value, value)
	}
	if got := MustList(t, st, dir); len(got) != 1 || !bytes.Equal(got[0].Value, value) {
		t.Errorf("binary value changed in List: %s", fmtPairs(got))
	}
}

// testLargeValue: a value of about 100 KiB round-trips intact. Guards clients with small
// default message or buffer limits that truncate or reject mid-sized values.
func testLargeValue(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/large"
	value := make([]byte, 100<<10)
	_, _ = rand.Read(value)
	if err := st.Put(t.Context(), key, value, nil); err != nil {
		t.Fatalf("Put of %d bytes: %v", len(value), err)
	}
	if got := mustGet(t, st, key); !bytes.Equal(got.Value, value) {
		t.Errorf("large value changed: got %d bytes, want %d", len(got.Value), len(value))
	}
}

// testCancelledContext: a call whose context has ended returns an error wrapping ctx.Err().
// Guards libkv, whose calls took no context at all and could hang forever on a stuck server.
func testCancelledContext(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	MustPut(t, st, key, "v", nil)
	prev := mustGet(t, st, key)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(op string, err error) {
		t.Helper()
		expectErr(t, op+" with a cancelled context", err, context.Canceled)
	}
	check("Put", st.Put(ctx, key, []byte("x"), nil))
	_, err := st.Get(ctx, key, nil)
	check("Get", err)
	_, err = st.Exists(ctx, key, nil)
	check("Exists", err)
	_, err = st.List(ctx, key, nil)
	check("List", err)
	_, _, err = st.AtomicPut(ctx, key, []byte("x"), prev, nil)
	check("AtomicPut", err)
	_, err = st.AtomicDelete(ctx, key, prev)
	check("AtomicDelete", err)
	check("Delete", st.Delete(ctx, key))
	check("DeleteTree", st.DeleteTree(ctx, key))
	if s.supports(CapWatch) {
		// Either refused, or a channel that closes at once: both end the watch with the context.
		if ch, err := st.Watch(ctx, key, nil); err == nil {
			ExpectClosed(t, ch, closeBound, "Watch with a cancelled context")
		} else {
			check("Watch", err)
		}
		if ch, err := st.WatchTree(ctx, key, nil); err == nil {
			ExpectClosed(t, ch, closeBound, "WatchTree with a cancelled context")
		} else {
			check("WatchTree", err)
		}
	}
	if s.supports(CapLock) {
		if lock, err := st.NewLock(t.Context(), key+"-lock", nil); err == nil {
			lost, err := lock.Lock(ctx)
			check("Lock", err)
			if lost != nil {
				t.Errorf("Lock with a cancelled context returned a channel")
			}
		}
	}
}

// testConcurrentOps: many goroutines mixing every call on one Store, to be run under -race.
// Guards per-Store state shared without synchronisation (libkv's BoltDB reassigned its file
// handle on every call and relied on one mutex around everything).
func testConcurrentOps(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	const workers, rounds = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				if err := mixedOps(t.Context(), st, dir, w, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	pairs := MustList(t, st, dir)
	for i := 1; i < len(pairs); i++ {
		if pairs[i-1].Key >= pairs[i].Key {
			t.Errorf("List not sorted after concurrent writes: %s", fmtPairs(pairs))
			break
		}
	}
}

// mixedOps runs one round of every call; keys are shared between workers so calls collide, and
// only the errors such collisions legitimately cause are accepted.
func mixedOps(ctx context.Context, st kvstore.Store, dir string, w, i int) error {
	shared := fmt.Sprintf("%s/shared/%d", dir, i%4)
	own := fmt.Sprintf("%s/own/%d/%d", dir, w, i)
	benign := func(err error) bool {
		return err == nil || errors.Is(err, kvstore.ErrKeyNotFound) || errors.Is(err, kvstore.ErrKeyExists) ||
			errors.Is(err, kvstore.ErrKeyModified)
	}
	steps := []func() error{
		func() error { return st.Put(ctx, own, []byte("v"), nil) },
		func() error { return st.Put(ctx, shared, fmt.Appendf(nil, "%d", w), nil) },
		func() error { _, err := st.Get(ctx, shared, nil); return err },
		func() error { _, err := st.Exists(ctx, own, nil); return err },
		func() error { _, err := st.List(ctx, dir, nil); return err },
		func() error {
			prev, err := st.Get(ctx, shared, nil)
			if err != nil {
				return err
			}
			_, _, err = st.AtomicPut(ctx, shared, []byte("a"), prev, nil)
			return err
		},
		func() error { _, _, err := st.AtomicPut(ctx, shared+"-c", []byte("c"), nil, nil); return err },
		func() error { return st.Delete(ctx, shared) },
		func() error { return st.DeleteTree(ctx, fmt.Sprintf("%s/own/%d", dir, w)) },
	}
	for n, step := range steps {
		if err := step(); !benign(err) {
			return fmt.Errorf("worker %d round %d step %d: %w", w, i, n, err)
		}
	}
	return nil
}
