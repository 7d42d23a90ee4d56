package kvtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

// lockLossTests pin how a held lock ends: renewal keeps it, and each way of losing it (expiry,
// deletion, Close, races between them) closes the lost channel once and frees the lock.
var lockLossTests = []test{
	{"LockRenewed", testLockRenewed},
	{"LockExpiry", testLockExpiry},
	{"LockLostOnDelete", testLockLostOnDelete},
	{"LockLostOnClose", testLockLostOnClose},
	{"LockWaitThenClose", testLockWaitThenClose},
	{"LockLostRace", testLockLostRace},
}

// expiryBound is how long after its renewal stopped a lock may still be held: TTL + 2 s by the
// contract, plus 1 s for a loaded machine. It fails a lock that is never lost (libkv's ZooKeeper
// held it for the session's life) and a backend that passes a server minimum on to the user
// (Consul's default session_ttl_min is 10 s).
func (s Suite) expiryBound() time.Duration { return s.lockTTL() + 3*time.Second }

// testLockRenewed: a lock held for twice its TTL with renewal on is still held: lost channel
// open, value in place, others still excluded, although the contexts given to NewLock and Lock
// ended right after. Guards libkv's etcd v2 lock, which renewed every 5 s whatever its TTL, and
// sessions created with the caller's ctx, whose lease dies with that ctx.
func testLockRenewed(t *testing.T, s Suite) {
	a, b := s.open(t), s.open(t)
	key := randomPrefix(t) + "/lock"
	if _, ok := s.newLock(t, a, key, nil); !ok { // reports a backend without locks
		return
	}
	newCtx, cancelNew := context.WithCancel(t.Context())
	lock, err := a.NewLock(newCtx, key, s.lockOpts("renewed", nil))
	cancelNew() // ctx bounds only the call
	if err != nil {
		t.Fatal(err)
	}
	lockCtx, cancelLock := context.WithTimeout(t.Context(), eventBound)
	lost, err := lock.Lock(lockCtx)
	cancelLock() // ctx bounds only the waiting
	if err != nil || lost == nil {
		t.Fatalf("Lock = %v, %v", lost, err)
	}
	select {
	case <-lost:
		t.Fatal("a renewed lock was lost")
	case <-time.After(2 * s.lockTTL()):
	}
	expectPair(t, "lock key after 2×TTL", mustGet(t, b, key), key, "renewed")
	other, _ := s.newLock(t, b, key, s.lockOpts("intruder", nil))
	if l, err := other.Lock(ctxWithin(t, 300*time.Millisecond)); err == nil {
		t.Errorf("another Store took a renewed lock (lost channel %v)", l)
	}
	if err := lock.Unlock(t.Context()); err != nil {
		t.Errorf("Unlock after 2×TTL: %v", err)
	}
}

// testLockExpiry: once RenewLock is closed (its Store left open, as a hung process would), the
// lost channel closes and a waiter acquires within TTL + 2 s. Guards libkv's ZooKeeper locks,
// which never signalled loss and lived as long as the session, and server minimums (Consul's
// session TTL floor, lock-delay) passed on to the user.
func testLockExpiry(t *testing.T, s Suite) {
	a, b := s.open(t), s.open(t)
	key := randomPrefix(t) + "/lock"
	renew := make(chan struct{})
	dying, ok := s.newLock(t, a, key, s.lockOpts("dying", renew))
	if !ok {
		return
	}
	lost := mustLock(t, dying, eventBound, "free lock")
	waiter, _ := s.newLock(t, b, key, s.lockOpts("waiter", nil))
	held := lockAsync(t, waiter, eventBound+s.expiryBound())
	ExpectQuiet(t, held, 300*time.Millisecond, "waiter while the holder renews")
	start := time.Now()
	close(renew)
	MustReceive(t, held, s.expiryBound(), "waiter after the holder's renewal stopped")
	t.Logf("waiter acquired %s after renewal stopped (TTL %s)", time.Since(start).Round(time.Millisecond), s.lockTTL())
	// The dead holder is told too: at the latest a watch event after the waiter took over.
	ExpectClosed(t, lost, lostBound, "expired holder's lost channel")
	t.Logf("holder's lost channel closed %s after renewal stopped", time.Since(start).Round(time.Millisecond))
	expectErr(t, "Unlock of an expired lock", dying.Unlock(t.Context()), kvstore.ErrNotLocked)
	expectPair(t, "lock key after expiry", mustGet(t, a, key), key, "waiter")
}

// testLockLostOnDelete: deleting the lock key from another Store closes the lost channel and
// frees the lock; Unlock afterwards is ErrNotLocked, and closing the Store then is safe. Guards
// libkv's ZooKeeper lock, whose channel never closed, and its etcd v2 lock, which noticed only at
// its next refresh, 5 s later.
func testLockLostOnDelete(t *testing.T, s Suite) {
	a, b := s.open(t), s.open(t)
	key := randomPrefix(t) + "/lock"
	lock, ok := s.newLock(t, a, key, s.lockOpts("held", nil))
	if !ok {
		return
	}
	lost := mustLock(t, lock, eventBound, "free lock")
	if err := b.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete of the lock key: %v", err)
	}
	ExpectClosed(t, lost, lostBound, "lost channel after the lock key was deleted")
	expectErr(t, "Unlock of a lost lock", lock.Unlock(t.Context()), kvstore.ErrNotLocked)
	next, _ := s.newLock(t, b, key, s.lockOpts("next", nil))
	mustLock(t, next, handoffBound, "lock freed by deletion")
	if err := a.Close(); err != nil {
		t.Errorf("Close of the Store whose lock was lost: %v", err)
	}
}

// testLockLostOnClose: Close closes the lost channel of every lock of the Store and releases
// them at once, so a waiter on another Store acquires promptly. Guards libkv's Consul and etcd v2
// Close, which did nothing, so their locks lasted until a TTL or session ran out.
func testLockLostOnClose(t *testing.T, s Suite) {
	a, b := s.open(t), s.open(t)
	dir := randomPrefix(t)
	lock1, ok := s.newLock(t, a, dir+"/one", s.lockOpts("a", nil))
	if !ok {
		return
	}
	lock2, _ := s.newLock(t, a, dir+"/two", s.lockOpts("a", nil))
	lost1 := mustLock(t, lock1, eventBound, "first lock")
	lost2 := mustLock(t, lock2, eventBound, "second lock")
	waiter, _ := s.newLock(t, b, dir+"/one", s.lockOpts("b", nil))
	held := lockAsync(t, waiter, eventBound)
	ExpectQuiet(t, held, 300*time.Millisecond, "waiter while the lock is held")
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ExpectClosed(t, lost1, lostBound, "first lost channel after Close")
	ExpectClosed(t, lost2, lostBound, "second lost channel after Close")
	MustReceive(t, held, handoffBound, "waiter after the holder's Store closed")
	t.Logf("hand-over after Close took %s", time.Since(start).Round(time.Millisecond))
	// Both describe the state: the lock is gone because its Store is.
	if err := lock1.Unlock(t.Context()); !errors.Is(err, kvstore.ErrClosed) && !errors.Is(err, kvstore.ErrNotLocked) {
		t.Errorf("Unlock after Close: %v, want ErrClosed or ErrNotLocked", err)
	}
}

// testLockWaitThenClose: Close of the Store a Lock is waiting on ends the wait with an error and
// a nil channel, and takes nothing from the holder. Guards waits that do not watch the Store's
// closing and so block forever on a closed client.
func testLockWaitThenClose(t *testing.T, s Suite) {
	holderStore, waiterStore := s.open(t), s.open(t)
	key := randomPrefix(t) + "/lock"
	holder, ok := s.newLock(t, holderStore, key, s.lockOpts("holder", nil))
	if !ok {
		return
	}
	holderLost := mustLock(t, holder, eventBound, "free lock")
	waiter, _ := s.newLock(t, waiterStore, key, s.lockOpts("waiter", nil))
	result := make(chan error, 1)
	go func() {
		lost, err := waiter.Lock(t.Context())
		switch {
		case lost != nil:
			_ = waiter.Unlock(context.Background())
			result <- errors.New("lock returned a channel")
		case err == nil:
			result <- errors.New("lock returned nil, nil")
		default:
			result <- nil
		}
	}()
	time.Sleep(300 * time.Millisecond)
	if err := waiterStore.Close(); err != nil {
		t.Fatal(err)
	}
	if err := MustReceive(t, result, closeBound, "waiting Lock after its Store closed"); err != nil {
		t.Errorf("waiting Lock after Close: %v; want an error and a nil channel", err)
	}
	if IsClosed(holderLost) {
		t.Error("the holder lost its lock when a waiter's Store closed")
	}
	expectPair(t, "lock key", mustGet(t, holderStore, key), key, "holder")
}

// testLockLostRace: Unlock, a deletion of the key and Close racing on a held lock all return and
// close the lost channel exactly once (a second close would panic). Guards Lockers with one path
// per cause of loss, each closing the channel, and the data races between them under -race.
func testLockLostRace(t *testing.T, s Suite) {
	for round := range 3 {
		a, b := s.open(t), s.open(t)
		key := fmt.Sprintf("%s/lock%d", randomPrefix(t), round)
		lock, ok := s.newLock(t, a, key, s.lockOpts("raced", nil))
		if !ok {
			return
		}
		lost := mustLock(t, lock, eventBound, "free lock")
		var wg sync.WaitGroup
		wg.Go(func() { _ = lock.Unlock(t.Context()) })
		wg.Go(func() { _ = b.Delete(t.Context(), key) })
		wg.Go(func() { _ = a.Close() })
		wg.Wait()
		ExpectClosed(t, lost, lostBound, "lost channel after racing releases")
		next, _ := s.newLock(t, b, key, s.lockOpts("next", nil))
		mustLock(t, next, handoffBound, "lock after racing releases")
	}
}
