package kvtest

import (
	"errors"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

var ttlTests = []test{
	{"TTLExpires", testTTLExpires},
	{"TTLExtend", testTTLExtend},
	{"TTLPermanent", testTTLPermanent},
	{"TTLAtomicPut", testTTLAtomicPut},
	{"TTLWatchExpiry", testTTLWatchExpiry},
}

// ttlSlack is how late after its TTL a key may still be readable: servers expire keys lazily
// (etcd revokes leases on its own tick, Consul invalidates sessions late by design), and the
// machine is loaded. 2 s is far below what the guarded faults give: never.
const ttlSlack = 2 * time.Second

// ttlOpts returns WriteOptions with the suite's TTL, or reports (after checking that Put and
// AtomicPut say so and write nothing) that the backend has no TTLs.
func (s Suite) ttlOpts(t *testing.T, st kvstore.Store, dir string) (*kvstore.WriteOptions, bool) {
	t.Helper()
	opts := &kvstore.WriteOptions{TTL: s.ttl()}
	if s.unsupported(t, CapTTL, func() {
		expectErr(t, "Put with TTL", st.Put(t.Context(), dir+"/k", []byte("v"), opts), kvstore.ErrCallNotSupported)
		_, _, err := st.AtomicPut(t.Context(), dir+"/k", []byte("v"), nil, opts)
		expectErr(t, "AtomicPut with TTL", err, kvstore.ErrCallNotSupported)
		expectEmptyDir(t, st, dir)
	}) {
		return nil, false
	}
	return opts, true
}

// awaitExpiry waits until key is gone for Get and List, and fails if that happens before early
// or later than late after start.
func awaitExpiry(t *testing.T, st kvstore.Store, dir, key string, start time.Time, early, late time.Duration) {
	t.Helper()
	waitFor(t, late-time.Since(start), "expiry of "+key, func() bool {
		_, err := st.Get(t.Context(), key, nil)
		return errors.Is(err, kvstore.ErrKeyNotFound)
	})
	if gone := time.Since(start); gone < early {
		t.Errorf("%s expired after %s, before its TTL", key, gone)
	} else {
		t.Logf("%s expired %s after its last write", key, gone.Round(time.Millisecond))
	}
	if pairs, err := st.List(t.Context(), dir, nil); err == nil {
		for _, p := range pairs {
			if p.Key == key {
				t.Errorf("List still shows expired %s", fmtPair(p))
			}
		}
	}
}

// testTTLExpires: a key written with a TTL disappears about TTL later while its writer's Store
// stays open, for Get, Exists and List alike. Guards libkv's ZooKeeper TTL, an ephemeral node that
// lived as long as the writer's session whatever the TTL.
func testTTLExpires(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	opts, ok := s.ttlOpts(t, st, dir)
	if !ok {
		return
	}
	key := dir + "/k"
	MustPut(t, st, dir+"/permanent", "p", nil)
	start := time.Now()
	if err := st.Put(t.Context(), key, []byte("v"), opts); err != nil {
		t.Fatalf("Put with TTL: %v", err)
	}
	expectPair(t, "Get right after Put with TTL", mustGet(t, st, key), key, "v")
	time.Sleep(s.ttl() / 2)
	if _, err := st.Get(t.Context(), key, nil); err != nil && time.Since(start) < s.ttl()*3/4 {
		t.Errorf("key gone at half its TTL: %v", err)
	}
	awaitExpiry(t, st, dir, key, start, s.ttl()/2, s.ttl()+ttlSlack)
	expectMissing(t, st, key)
	expectKeys(t, "List after expiry", MustList(t, st, dir), dir+"/permanent")
}

// testTTLExtend: rewriting with a TTL restarts it. Guards backends that attach a TTL once (an
// etcd lease or a Consul session kept from the first write), so a refreshed key still expires on
// the first deadline.
func testTTLExtend(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	opts, ok := s.ttlOpts(t, st, dir)
	if !ok {
		return
	}
	key := dir + "/k"
	ttl := s.ttl()
	first := time.Now()
	if err := st.Put(t.Context(), key, []byte("v1"), opts); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl * 3 / 5)
	second := time.Now()
	if err := st.Put(t.Context(), key, []byte("v2"), opts); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(first.Add(ttl + ttl/5)))
	if pair, err := st.Get(t.Context(), key, nil); err != nil {
		t.Fatalf("key expired %s after its refresh, before the refreshed TTL %s: %v", time.Since(second), ttl, err)
	} else {
		expectPair(t, "Get after the first TTL passed", pair, key, "v2")
	}
	awaitExpiry(t, st, dir, key, second, ttl/2, ttl+ttlSlack)
}

// testTTLPermanent: rewriting without a TTL makes the key permanent, through Put and AtomicPut.
// Guards backends where a plain write leaves the earlier lease or session attached (a Consul key
// stays bound to the session that acquired it, and goes with it).
func testTTLPermanent(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	opts, ok := s.ttlOpts(t, st, dir)
	if !ok {
		return
	}
	key := dir + "/k"
	if err := st.Put(t.Context(), key, []byte("temporary"), opts); err != nil {
		t.Fatal(err)
	}
	MustPut(t, st, key, "permanent", nil)
	_, _, err := st.AtomicPut(t.Context(), dir+"/atomic", []byte("temporary"), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err = st.AtomicPut(t.Context(), dir+"/atomic", []byte("permanent"), mustGet(t, st, dir+"/atomic"), nil)
	if !ok || err != nil {
		t.Fatalf("AtomicPut without TTL = %v, %v", ok, err)
	}
	time.Sleep(s.ttl() + ttlSlack)
	expectPair(t, "Get long after the TTL", mustGet(t, st, key), key, "permanent")
	expectPair(t, "Get long after the TTL", mustGet(t, st, dir+"/atomic"), dir+"/atomic", "permanent")
}

// testTTLAtomicPut: AtomicPut honours a TTL on create and on update. Guards libkv, whose
// AtomicPut ignored the TTL on every backend (etcd v2 passed 0, ZooKeeper and Consul dropped the
// options).
func testTTLAtomicPut(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	opts, ok := s.ttlOpts(t, st, dir)
	if !ok {
		return
	}
	created := time.Now()
	ok, pair, err := st.AtomicPut(t.Context(), dir+"/created", []byte("v"), nil, opts)
	if !ok || err != nil {
		t.Fatalf("AtomicPut create with TTL = %v, %v", ok, err)
	}
	expectPair(t, "AtomicPut with TTL result", pair, dir+"/created", "v")
	MustPut(t, st, dir+"/updated", "v", nil)
	updated := time.Now()
	ok, _, err = st.AtomicPut(t.Context(), dir+"/updated", []byte("w"), mustGet(t, st, dir+"/updated"), opts)
	if !ok || err != nil {
		t.Fatalf("AtomicPut update with TTL = %v, %v", ok, err)
	}
	awaitExpiry(t, st, dir, dir+"/created", created, s.ttl()/2, s.ttl()+ttlSlack)
	awaitExpiry(t, st, dir, dir+"/updated", updated, s.ttl()/2, s.ttl()+ttlSlack)
}

// testTTLWatchExpiry: an expiry is a deletion: Watch sends nil and WatchTree a listing without the
// key. Guards libkv's etcd v2 watch, which sent an "expire" as a pair with an empty value, and
// watches that report explicit deletes only.
func testTTLWatchExpiry(t *testing.T, s Suite) {
	st := s.open(t)
	dir := randomPrefix(t)
	opts, ok := s.ttlOpts(t, st, dir)
	if !ok {
		return
	}
	key := dir + "/k"
	if err := st.Put(t.Context(), key, []byte("v"), opts); err != nil {
		t.Fatal(err)
	}
	MustPut(t, st, dir+"/stays", "s", nil)
	ch, ok := s.watch(t, st, key)
	if !ok {
		return
	}
	tree, _ := s.watchTree(t, st, dir)
	expectPair(t, "first event", nextEvent(t, ch, "first event"), key, "v")
	nextSnapshot(t, tree, dir, "first listing")
	if got := MustReceive(t, ch, s.ttl()+ttlSlack, "event for the expiry"); got != nil {
		t.Errorf("event for the expiry = %s, want nil", fmtPair(got))
	}
	snap := awaitSnapshot(t, tree, st, dir, "listing after the expiry")
	expectKeys(t, "listing after the expiry", snap, dir+"/stays")
}
