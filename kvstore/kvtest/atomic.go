package kvtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

var atomicTests = []test{
	{"LastIndex", testLastIndex},
	{"AtomicPutCreate", testAtomicPutCreate},
	{"AtomicPutChain", testAtomicPutChain},
	{"AtomicPutStale", testAtomicPutStale},
	{"AtomicPutMissing", testAtomicPutMissing},
	{"AtomicDelete", testAtomicDelete},
	{"AtomicCounter", testAtomicCounter},
}

// testLastIndex: LastIndex is never 0, grows with every write of the key (same value included,
// and after a delete and re-create), and a new Store reads the same index. Guards libkv's BoltDB,
// whose index lived in memory and restarted at 0 with each Store, and its ZooKeeper backend,
// whose index was the node version, 0 for a new node.
func testLastIndex(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	var last uint64
	for i, v := range []string{"a", "a", "b", "b", "a"} {
		MustPut(t, st, key, v, nil)
		got := mustGet(t, st, key)
		if got.LastIndex <= last {
			t.Errorf("write %d (%q): LastIndex %d, not above the previous %d", i, v, got.LastIndex, last)
		}
		last = got.LastIndex
	}
	if err := st.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	MustPut(t, st, key, "a", nil)
	recreated := mustGet(t, st, key)
	if recreated.LastIndex <= last {
		t.Errorf("re-created key: LastIndex %d, not above %d before the delete", recreated.LastIndex, last)
	}
	reopened := s.open(t)
	if got := mustGet(t, reopened, key); !samePair(got, recreated) {
		t.Errorf("a new Store reads %s, the writer read %s", fmtPair(got), fmtPair(recreated))
	}
}

// testAtomicPutCreate: AtomicPut with a nil previous creates only; the key exists: ErrKeyExists
// and nothing changes. Guards libkv's Consul, which said ErrKeyModified here, and etcd v2, which
// returned its raw error 105.
func testAtomicPutCreate(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	ok, pair, err := st.AtomicPut(t.Context(), key, []byte("first"), nil, nil)
	if !ok || err != nil {
		t.Fatalf("AtomicPut create = %v, %v", ok, err)
	}
	expectPair(t, "AtomicPut result", pair, key, "first")
	if got := mustGet(t, st, key); !samePair(got, pair) {
		t.Errorf("Get = %s, AtomicPut returned %s", fmtPair(got), fmtPair(pair))
	}
	ok, _, err = st.AtomicPut(t.Context(), key, []byte("second"), nil, nil)
	if ok || !errors.Is(err, kvstore.ErrKeyExists) {
		t.Errorf("AtomicPut create over an existing key = %v, %v; want false, ErrKeyExists", ok, err)
	}
	if got := mustGet(t, st, key); !samePair(got, pair) {
		t.Errorf("rejected create changed the key: %s", fmtPair(got))
	}
}

// testAtomicPutChain: the pair AtomicPut returns is valid as previous for the next AtomicPut and
// for AtomicDelete, and a pair read by another Store is too. Guards libkv's Consul AtomicPut, which
// read its result back with a separate Get that could return a later writer's pair, and its
// ZooKeeper AtomicPut, which returned index 0 for a created node.
func testAtomicPutChain(t *testing.T, s Suite) {
	st, other := s.open(t), s.open(t)
	key := randomPrefix(t) + "/k"
	_, pair, err := st.AtomicPut(t.Context(), key, []byte("0"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		prev := pair
		var ok bool
		ok, pair, err = st.AtomicPut(t.Context(), key, []byte(strconv.Itoa(i)), prev, nil)
		if !ok || err != nil {
			t.Fatalf("chained AtomicPut %d = %v, %v", i, ok, err)
		}
		expectPair(t, "chained AtomicPut", pair, key, strconv.Itoa(i))
		if pair.LastIndex <= prev.LastIndex {
			t.Errorf("chained AtomicPut %d: index %d not above %d", i, pair.LastIndex, prev.LastIndex)
		}
	}
	seen := mustGet(t, other, key)
	if !samePair(seen, pair) {
		t.Errorf("another Store reads %s, AtomicPut returned %s", fmtPair(seen), fmtPair(pair))
	}
	ok, pair, err := other.AtomicPut(t.Context(), key, []byte("other"), seen, nil)
	if !ok || err != nil {
		t.Fatalf("AtomicPut from another Store with its Get = %v, %v", ok, err)
	}
	if ok, err := st.AtomicDelete(t.Context(), key, pair); !ok || err != nil {
		t.Errorf("AtomicDelete with the pair AtomicPut returned = %v, %v", ok, err)
	}
	expectMissing(t, st, key)
}

// testAtomicPutStale: a stale previous is ErrKeyModified and writes nothing, also when the value
// is the same (only the index counts) and when the key was deleted and re-created since (no ABA).
// Guards compare-and-swap on values rather than indexes, and on ZooKeeper's node version, which
// restarts at 0 when a node is re-created, so a pair from before the delete matched again.
func testAtomicPutStale(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	MustPut(t, st, key, "v", nil)
	stale := mustGet(t, st, key)
	MustPut(t, st, key, "v", nil) // same value, new index
	current := mustGet(t, st, key)
	ok, _, err := st.AtomicPut(t.Context(), key, []byte("new"), stale, nil)
	if ok || !errors.Is(err, kvstore.ErrKeyModified) {
		t.Errorf("AtomicPut with a stale previous = %v, %v; want false, ErrKeyModified", ok, err)
	}
	if got := mustGet(t, st, key); !samePair(got, current) {
		t.Errorf("rejected AtomicPut changed the key: %s, want %s", fmtPair(got), fmtPair(current))
	}
	if ok, _, err := st.AtomicPut(t.Context(), key, []byte("new"), current, nil); !ok || err != nil {
		t.Errorf("AtomicPut with the current pair = %v, %v", ok, err)
	}

	other := key + "-recreated"
	MustPut(t, st, other, "v", nil)
	before := mustGet(t, st, other)
	if err := st.Delete(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	MustPut(t, st, other, "v", nil)
	ok, _, err = st.AtomicPut(t.Context(), other, []byte("x"), before, nil)
	if ok || !errors.Is(err, kvstore.ErrKeyModified) {
		t.Errorf("AtomicPut with a pair from before a delete and re-create = %v, %v; want ErrKeyModified", ok, err)
	}
	if ok, err := st.AtomicDelete(t.Context(), other, before); ok || !errors.Is(err, kvstore.ErrKeyModified) {
		t.Errorf("AtomicDelete with a pair from before a delete and re-create = %v, %v; want ErrKeyModified", ok, err)
	}
}

// testAtomicPutMissing: AtomicPut with a previous pair on a missing key is ErrKeyNotFound and
// does not create it. Guards libkv, which said ErrKeyModified (Consul), etcd's raw error 100
// (etcd v2) or ZooKeeper's raw ErrNoNode here.
func testAtomicPutMissing(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	MustPut(t, st, key, "v", nil)
	prev := mustGet(t, st, key)
	if err := st.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	ok, _, err := st.AtomicPut(t.Context(), key, []byte("x"), prev, nil)
	if ok || !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("AtomicPut on a deleted key = %v, %v; want false, ErrKeyNotFound", ok, err)
	}
	expectMissing(t, st, key)
}

// testAtomicDelete: nil previous is ErrPreviousNotSpecified, stale is ErrKeyModified and keeps
// the key, a missing key is ErrKeyNotFound, success removes it. Guards libkv's Consul, which said
// ErrKeyModified for a missing key, and etcd v2's raw errors.
func testAtomicDelete(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/k"
	MustPut(t, st, key, "v", nil)
	stale := mustGet(t, st, key)
	MustPut(t, st, key, "v", nil)
	current := mustGet(t, st, key)
	ok, err := st.AtomicDelete(t.Context(), key, nil)
	if ok || !errors.Is(err, kvstore.ErrPreviousNotSpecified) {
		t.Errorf("AtomicDelete(nil) = %v, %v; want false, ErrPreviousNotSpecified", ok, err)
	}
	ok, err = st.AtomicDelete(t.Context(), key, stale)
	if ok || !errors.Is(err, kvstore.ErrKeyModified) {
		t.Errorf("AtomicDelete(stale) = %v, %v; want false, ErrKeyModified", ok, err)
	}
	if got := mustGet(t, st, key); !samePair(got, current) {
		t.Errorf("rejected AtomicDelete changed the key: %s", fmtPair(got))
	}
	if ok, err := st.AtomicDelete(t.Context(), key, current); !ok || err != nil {
		t.Fatalf("AtomicDelete(current) = %v, %v", ok, err)
	}
	expectMissing(t, st, key)
	ok, err = st.AtomicDelete(t.Context(), key, current)
	if ok || !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("AtomicDelete of a deleted key = %v, %v; want false, ErrKeyNotFound", ok, err)
	}
}

// testAtomicCounter: several Stores increment one counter with Get + AtomicPut retries; the
// final count is exact, so no two compare-and-swaps both won. Guards compare-and-swap emulated
// as a read then a write.
func testAtomicCounter(t *testing.T, s Suite) {
	key := randomPrefix(t) + "/counter"
	const clients, rounds = 4, 10
	stores := make([]kvstore.Store, clients)
	for i := range stores {
		stores[i] = s.open(t)
	}
	if _, _, err := stores[0].AtomicPut(t.Context(), key, []byte("0"), nil, nil); err != nil {
		t.Fatal(err)
	}
	ctx := ctxWithin(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for _, st := range stores {
		wg.Go(func() {
			for range rounds {
				if err := casIncrement(ctx, st, key); err != nil {
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
	if got := mustGet(t, stores[0], key); string(got.Value) != strconv.Itoa(clients*rounds) {
		t.Errorf("counter = %s after %d increments", got.Value, clients*rounds)
	}
}

func casIncrement(ctx context.Context, st kvstore.Store, key string) error {
	for {
		prev, err := st.Get(ctx, key, nil)
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(string(prev.Value))
		if err != nil {
			return fmt.Errorf("counter holds %q", prev.Value)
		}
		ok, _, err := st.AtomicPut(ctx, key, []byte(strconv.Itoa(n+1)), prev, nil)
		switch {
		case ok && err == nil:
			return nil
		case errors.Is(err, kvstore.ErrKeyModified):
			continue
		default:
			return fmt.Errorf("AtomicPut = %v, %w", ok, err)
		}
	}
}
