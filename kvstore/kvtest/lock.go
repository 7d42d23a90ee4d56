package kvtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

var lockTests = []test{
	{"LockValue", testLockValue},
	{"LockUnlock", testLockUnlock},
	{"LockCancelWaiting", testLockCancelWaiting},
	{"LockHandoff", testLockHandoff},
	{"LockMutualExclusion", testLockMutualExclusion},
	{"LockSameStore", testLockSameStore},
	{"LockReuse", testLockReuse},
}

// handoffBound: a waiter acquires within 1 s of Unlock or Close by the contract. 1.5 s leaves
// room for a loaded 2-core machine yet fails a backend that polls once a second or more, or
// that waits out Consul's lock-delay (15 s by default) after a session is destroyed.
const handoffBound = 1500 * time.Millisecond

// lostBound: how soon the lost channel closes after a removal the holder can learn of (Unlock,
// Close, a deletion of its key). The contract gives no number; 3 s allows a backend that learns
// of a deletion at its next renewal (a fraction of the 2 s TTL) on a loaded machine, and fails
// one that never learns.
const lostBound = 3 * time.Second

// lockOpts returns LockOptions with the suite's TTL and the given value.
func (s Suite) lockOpts(value string, renew chan struct{}) *kvstore.LockOptions {
	return &kvstore.LockOptions{Value: []byte(value), TTL: s.lockTTL(), RenewLock: renew}
}

// newLock returns a Locker, or reports the backend's lack of locks after checking that
// NewLock or Lock says so.
func (s Suite) newLock(t *testing.T, st kvstore.Store, key string, opts *kvstore.LockOptions) (kvstore.Locker, bool) {
	t.Helper()
	if s.unsupported(t, CapLock, func() {
		lock, err := st.NewLock(t.Context(), key, opts)
		if err == nil {
			_, err = lock.Lock(ctxWithin(t, 5*time.Second))
		}
		expectErr(t, "NewLock or Lock", err, kvstore.ErrCallNotSupported)
	}) {
		return nil, false
	}
	lock, err := st.NewLock(t.Context(), key, opts)
	if err != nil {
		t.Fatalf("NewLock(%q): %v", key, err)
	}
	return lock, true
}

// mustLock takes lock within d and returns its lost channel.
func mustLock(t *testing.T, lock kvstore.Locker, d time.Duration, what string) <-chan struct{} {
	t.Helper()
	lost, err := lock.Lock(ctxWithin(t, d))
	if err != nil {
		t.Fatalf("%s: Lock: %v", what, err)
	}
	if lost == nil {
		t.Fatalf("%s: Lock returned a nil channel and no error", what)
	}
	return lost
}

// lockAsync starts lock.Lock, bounded by d, in a goroutine the test waits for, and returns a
// channel that delivers its lost channel once held (or closes if Lock failed, after reporting it).
func lockAsync(t *testing.T, lock kvstore.Locker, d time.Duration) <-chan (<-chan struct{}) {
	t.Helper()
	ctx := ctxWithin(t, d)
	held := make(chan (<-chan struct{}), 1)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() {
		lost, err := lock.Lock(ctx)
		if err != nil || lost == nil {
			t.Errorf("waiting Lock = %v, %v", lost, err)
			close(held)
			return
		}
		held <- lost
	})
	return held
}

// testLockValue: while held, Get(key) returns LockOptions.Value, and List and WatchTree of the
// parent show the lock key only, during and after the lock. Guards libkv's ZooKeeper lock, whose
// recipe kept sequence nodes below the key (visible to List) and left its value behind.
func testLockValue(t *testing.T, s Suite) {
	st, other := s.open(t), s.open(t)
	dir := randomPrefix(t)
	key := dir + "/lock"
	lock, ok := s.newLock(t, st, "/"+dir+"//lock/", s.lockOpts("holder-1", nil))
	if !ok {
		return
	}
	var tree <-chan []*kvstore.KVPair
	if s.supports(CapWatch) {
		tree, _ = s.watchTree(t, other, dir)
		nextSnapshot(t, tree, dir, "first listing of the lock's directory")
	}
	mustLock(t, lock, eventBound, "free lock")
	expectPair(t, "Get of the held lock key from another Store", mustGet(t, other, key), key, "holder-1")
	expectKeys(t, "List of the lock's directory", MustList(t, other, dir), key)
	if tree != nil {
		// Every listing until the final one must show the lock key alone: bookkeeping keys
		// written on the way to the lock would appear in one of them.
		for snap := range awaitSnapshotSeq(t, tree, other, dir, "listing after Lock") {
			if len(snap) > 1 || (len(snap) == 1 && snap[0].Key != key) {
				t.Errorf("WatchTree of the lock's directory shows %s", fmtPairs(snap))
			}
		}
	}
	if err := lock.Unlock(t.Context()); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if pairs, err := other.List(t.Context(), dir, nil); err == nil && len(pairs) > 0 && !sameKeys(pairs, []string{key}) {
		t.Errorf("List after Unlock = %s: bookkeeping keys left behind", fmtPairs(pairs))
	}
}

// testLockUnlock: Unlock closes the lost channel once; Unlock of a lock never taken or already
// released is ErrNotLocked; another Store then takes the lock at once. Guards libkv's etcd v2
// Unlock, which succeeded on a lock never taken and hung on a second call.
func testLockUnlock(t *testing.T, s Suite) {
	st, other := s.open(t), s.open(t)
	key := randomPrefix(t) + "/lock"
	lock, ok := s.newLock(t, st, key, s.lockOpts("a", nil))
	if !ok {
		return
	}
	expectErr(t, "Unlock before Lock", lock.Unlock(t.Context()), kvstore.ErrNotLocked)
	lost := mustLock(t, lock, eventBound, "free lock")
	if IsClosed(lost) {
		t.Fatal("lost channel closed while the lock is held")
	}
	if err := lock.Unlock(t.Context()); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	ExpectClosed(t, lost, lostBound, "lost channel after Unlock")
	expectErr(t, "second Unlock", lock.Unlock(t.Context()), kvstore.ErrNotLocked)
	next, _ := s.newLock(t, other, key, s.lockOpts("b", nil))
	mustLock(t, next, handoffBound, "lock released by Unlock")
	// Closing the Store of the released lock must not close its lost channel a second time.
	if err := st.Close(); err != nil {
		t.Errorf("Close after Unlock: %v", err)
	}
}

// testLockCancelWaiting: Lock whose ctx ends while another Store holds the lock returns an error
// wrapping ctx.Err() and a nil channel, promptly; the abandoned attempt leaves nothing that blocks
// later waiters. Guards libkv's Lock, which returned nil, nil on cancel, and waiting-queue entries
// (a ZooKeeper sequence node, an etcd key) left behind by an abandoned attempt.
func testLockCancelWaiting(t *testing.T, s Suite) {
	holderStore, waiterStore, thirdStore := s.open(t), s.open(t), s.open(t)
	key := randomPrefix(t) + "/lock"
	holder, ok := s.newLock(t, holderStore, key, s.lockOpts("holder", nil))
	if !ok {
		return
	}
	holderLost := mustLock(t, holder, eventBound, "free lock")
	waiter, _ := s.newLock(t, waiterStore, key, s.lockOpts("waiter", nil))
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	lost, err := waiter.Lock(ctx)
	if err == nil || lost != nil {
		t.Fatalf("Lock while held elsewhere, ctx ended = %v, %v; want nil, an error", lost, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock error %v does not wrap ctx.Err()", err)
	}
	if waited := time.Since(start); waited > 500*time.Millisecond+closeBound {
		t.Errorf("Lock returned %s after its ctx ended", waited-500*time.Millisecond)
	}
	if IsClosed(holderLost) {
		t.Fatal("the holder lost its lock when a waiter gave up")
	}
	expectPair(t, "lock key after a cancelled waiter", mustGet(t, thirdStore, key), key, "holder")
	third, _ := s.newLock(t, thirdStore, key, s.lockOpts("third", nil))
	held := lockAsync(t, third, eventBound)
	time.Sleep(200 * time.Millisecond)
	if err := holder.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if lost := MustReceive(t, held, handoffBound, "third waiter after Unlock (the cancelled waiter must not block it)"); lost == nil {
		t.Fatal("third waiter failed")
	}
	expectPair(t, "lock key of the third holder", mustGet(t, holderStore, key), key, "third")
}

// testLockHandoff: a blocked waiter acquires promptly after Unlock, measured. Guards waiters
// that poll or back off between attempts instead of waking on the release.
func testLockHandoff(t *testing.T, s Suite) {
	a, b := s.open(t), s.open(t)
	key := randomPrefix(t) + "/lock"
	first, ok := s.newLock(t, a, key, s.lockOpts("first", nil))
	if !ok {
		return
	}
	mustLock(t, first, eventBound, "free lock")
	second, _ := s.newLock(t, b, key, s.lockOpts("second", nil))
	held := lockAsync(t, second, eventBound+handoffBound)
	ExpectQuiet(t, held, 500*time.Millisecond, "second Lock while the first holds")
	start := time.Now()
	if err := first.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	MustReceive(t, held, handoffBound, "waiter after Unlock")
	t.Logf("hand-over after Unlock took %s", time.Since(start).Round(time.Millisecond))
	expectPair(t, "lock key after hand-over", mustGet(t, a, key), key, "second")
}

// testLockMutualExclusion: 8 contenders on 8 Stores each take the lock several times and
// increment a counter with a plain Get and Put; the counter is exact and no two ever hold the
// lock at once. Guards any window in which two contenders both believe they hold the lock.
func testLockMutualExclusion(t *testing.T, s Suite) {
	dir := randomPrefix(t)
	const contenders, rounds = 8, 5
	stores := make([]kvstore.Store, contenders)
	for i := range stores {
		stores[i] = s.open(t)
	}
	if _, ok := s.newLock(t, stores[0], dir+"/lock", nil); !ok {
		return
	}
	MustPut(t, stores[0], dir+"/counter", "0", nil)
	var holders, maxHolders atomic.Int32
	ctx := ctxWithin(t, 120*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, contenders)
	for i, st := range stores {
		wg.Go(func() {
			lock, err := st.NewLock(ctx, dir+"/lock", s.lockOpts(fmt.Sprint(i), nil))
			for r := 0; err == nil && r < rounds; r++ {
				err = criticalSection(ctx, st, lock, dir+"/counter", &holders, &maxHolders)
			}
			if err != nil {
				errs <- fmt.Errorf("contender %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := maxHolders.Load(); n > 1 {
		t.Errorf("%d contenders held the lock at once", n)
	}
	if got := mustGet(t, stores[0], dir+"/counter"); string(got.Value) != strconv.Itoa(contenders*rounds) {
		t.Errorf("counter = %s after %d locked increments", got.Value, contenders*rounds)
	}
}

// recordMax raises highest to n if n is larger.
func recordMax(highest *atomic.Int32, n int32) {
	for {
		m := highest.Load()
		if n <= m || highest.CompareAndSwap(m, n) {
			return
		}
	}
}

func criticalSection(ctx context.Context, st kvstore.Store, lock kvstore.Locker, counter string, holders, maxHolders *atomic.Int32) error {
	lost, err := lock.Lock(ctx)
	if err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	recordMax(maxHolders, holders.Add(1))
	pair, err := st.Get(ctx, counter, nil)
	if err == nil {
		var v int
		v, err = strconv.Atoi(string(pair.Value))
		if err == nil {
			time.Sleep(time.Millisecond) // widen the window a second holder would need
			err = st.Put(ctx, counter, []byte(strconv.Itoa(v+1)), nil)
		}
	}
	if err == nil && IsClosed(lost) {
		err = errors.New("lock lost inside the critical section")
	}
	holders.Add(-1)
	if uerr := lock.Unlock(ctx); err == nil && uerr != nil {
		err = fmt.Errorf("unlock: %w", uerr)
	}
	return err
}

// testLockSameStore: two Lockers of one Store on one key exclude each other like Lockers of two
// Stores. Guards locks keyed by the Store's session: etcd's concurrency.Mutex names its key after
// the session's lease, so two Mutexes on one session both believe they hold the lock.
func testLockSameStore(t *testing.T, s Suite) {
	st := s.open(t)
	key := randomPrefix(t) + "/lock"
	first, ok := s.newLock(t, st, key, s.lockOpts("first", nil))
	if !ok {
		return
	}
	mustLock(t, first, eventBound, "first Locker")
	second, _ := s.newLock(t, st, key, s.lockOpts("second", nil))
	held := lockAsync(t, second, eventBound+handoffBound)
	ExpectQuiet(t, held, 500*time.Millisecond, "second Locker of the same Store while the first holds")
	if err := first.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	MustReceive(t, held, handoffBound, "second Locker after Unlock")
	expectPair(t, "lock key", mustGet(t, st, key), key, "second")
}

// testLockReuse: a Locker can lock again after Unlock and after losing the lock, with a fresh
// lost channel each time, as an election candidate does in its loop. Guards Lockers that keep
// state from the first round (a closed renewal channel, a dead session) and fail or return an
// already closed channel the second time.
func testLockReuse(t *testing.T, s Suite) {
	st, other := s.open(t), s.open(t)
	key := randomPrefix(t) + "/lock"
	lock, ok := s.newLock(t, st, key, s.lockOpts("reused", nil))
	if !ok {
		return
	}
	for round := range 3 {
		lost := mustLock(t, lock, handoffBound, fmt.Sprintf("round %d", round))
		if IsClosed(lost) {
			t.Fatalf("round %d: Lock returned a closed channel", round)
		}
		expectPair(t, "lock key", mustGet(t, other, key), key, "reused")
		if round == 1 {
			if err := other.Delete(t.Context(), key); err != nil {
				t.Fatal(err)
			}
			ExpectClosed(t, lost, lostBound, "lost channel after deletion")
			continue
		}
		if err := lock.Unlock(t.Context()); err != nil {
			t.Fatalf("round %d: Unlock: %v", round, err)
		}
		ExpectClosed(t, lost, lostBound, "lost channel after Unlock")
	}
}
