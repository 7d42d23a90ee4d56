package consul_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// lockTTL is the lock TTL of the fault tests; with the test server's session_ttl_min of 1s it
// is honoured exactly.
const lockTTL = 2 * time.Second

// lockAsync runs lock.Lock in a goroutine the test waits for; the channel delivers the time the
// lock was acquired, or is closed if Lock failed.
func lockAsync(t *testing.T, lock kvstore.Locker) <-chan time.Time {
	ctx := t.Context()
	acquired := make(chan time.Time, 1)
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		if _, err := lock.Lock(ctx); err != nil {
			t.Errorf("waiting Lock: %v", err)
			close(acquired)
			return
		}
		acquired <- time.Now()
	}()
	return acquired
}

// closedAt returns a channel that delivers when ch closes.
func closedAt(ch <-chan struct{}) <-chan time.Time {
	at := make(chan time.Time, 1)
	go func() {
		<-ch
		at <- time.Now()
	}()
	return at
}

// TestServerRestart kills the server while a lock is held, a waiter is blocked and a watch
// runs, then starts it again. The holder learns of the loss within the lock's TTL (its renewals
// fail); the waiter acquires once the server is back and the holder's session is gone, never
// before the holder was told; the watch carries on, or closes (never hangs).
func TestServerRestart(t *testing.T) {
	srv := testserver.Consul(t)
	cfg := &kvstore.Config{ConnectionTimeout: 2 * time.Second}
	holderSt, waiterSt, watchSt := open(t, srv.Endpoints, cfg), open(t, srv.Endpoints, cfg), open(t, srv.Endpoints, cfg)
	dir := dirFor(t)
	key, watched := dir+"/lock", dir+"/watched"

	holder, _ := holderSt.NewLock(t.Context(), key, &kvstore.LockOptions{Value: []byte("holder"), TTL: lockTTL})
	lost, err := holder.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	lostAt := closedAt(lost)
	waiter, _ := waiterSt.NewLock(t.Context(), key, &kvstore.LockOptions{Value: []byte("waiter"), TTL: lockTTL})
	acquired := lockAsync(t, waiter)
	kvtest.MustPut(t, watchSt, watched, "before", nil)
	events, err := watchSt.Watch(t.Context(), watched, nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.Receive(t, events, 5*time.Second, "current value")
	time.Sleep(300 * time.Millisecond) // the waiter is blocked in its query

	srv.Kill(t)
	killed := time.Now()
	// The holder gives the lock up 9/10 of the TTL after its last renewal; 2s more absorbs a
	// loaded machine.
	lostTime, _ := kvtest.Receive(t, lostAt, lockTTL+2*time.Second, "holder's lost channel after the kill")
	t.Logf("holder's lost channel closed %s after the kill", lostTime.Sub(killed).Round(time.Millisecond))
	srv.Start(t)
	restarted := time.Now()
	// Back up, the server gives every session a full 2×TTL again; the waiter gets the lock when
	// the holder's session is destroyed or lapses.
	acquiredAt, ok := kvtest.Receive(t, acquired, lockTTL+20*time.Second, "waiter after the restart")
	if !ok {
		t.Fatal("the waiter's Lock failed")
	}
	t.Logf("waiter acquired %s after the restart", acquiredAt.Sub(restarted).Round(time.Millisecond))
	if acquiredAt.Before(lostTime) {
		t.Errorf("two holders: the waiter acquired at %s, the holder was told at %s", acquiredAt, lostTime)
	}
	pair, err := waiterSt.Get(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectValue(t, "lock key after the restart", pair, "waiter")

	kvtest.MustPut(t, watchSt, watched, "after", nil)
	for {
		ev, ok := kvtest.Receive(t, events, 45*time.Second, "watch after the restart")
		if !ok {
			t.Log("the watch closed during the outage")
			return
		}
		if ev != nil && string(ev.Value) == "after" {
			t.Logf("the watch survived the restart")
			return
		}
	}
}

// TestStalledAgent: an agent that accepts connections but never answers (a stalled network,
// through a proxy) gives errors within the connection timeout; a lock held through it is lost
// before another Store, talking to the server directly, can take it; after Resume and Cut,
// watches carry on.
func TestStalledAgent(t *testing.T) {
	proxy := testserver.NewProxy(t, endpoints[0])
	const timeout = time.Second
	via := open(t, []string{proxy.Addr()}, &kvstore.Config{ConnectionTimeout: timeout})
	direct := open(t, endpoints, nil)
	dir := dirFor(t)
	key, watched := dir+"/lock", dir+"/watched"
	kvtest.MustPut(t, direct, watched, "before", nil)
	events, err := via.Watch(t.Context(), watched, nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.Receive(t, events, 5*time.Second, "current value")
	holder, _ := via.NewLock(t.Context(), key, &kvstore.LockOptions{Value: []byte("stalled"), TTL: lockTTL})
	lost, err := holder.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	lostAt := closedAt(lost)
	waiter, _ := direct.NewLock(t.Context(), key, &kvstore.LockOptions{Value: []byte("direct"), TTL: lockTTL})
	acquired := lockAsync(t, waiter)

	proxy.Stall()
	stalled := time.Now()
	start := time.Now()
	_, err = via.Get(t.Context(), watched, nil)
	if took := time.Since(start); !errors.Is(err, kvstore.ErrUnreachable) || took > timeout+time.Second {
		t.Errorf("Get through a stalled agent = %v after %s; want ErrUnreachable within %s", err, took, timeout)
	}
	start = time.Now()
	_, err = via.Watch(t.Context(), watched, nil)
	if took := time.Since(start); !errors.Is(err, kvstore.ErrUnreachable) || took > timeout+time.Second {
		t.Errorf("Watch through a stalled agent = %v after %s; want ErrUnreachable within %s", err, took, timeout)
	}
	lostTime, _ := kvtest.Receive(t, lostAt, lockTTL+2*time.Second, "lost channel of the stalled holder")
	acquiredAt, ok := kvtest.Receive(t, acquired, lockTTL+5*time.Second, "direct waiter")
	if !ok {
		t.Fatal("the direct waiter's Lock failed")
	}
	t.Logf("stalled holder told after %s, direct waiter acquired after %s",
		lostTime.Sub(stalled).Round(time.Millisecond), acquiredAt.Sub(stalled).Round(time.Millisecond))
	if acquiredAt.Before(lostTime) {
		t.Errorf("two holders: the waiter acquired at %s, the stalled holder was told at %s", acquiredAt, lostTime)
	}

	proxy.Resume()
	proxy.Cut()
	kvtest.MustPut(t, direct, watched, "after", nil)
	for {
		ev, ok := kvtest.Receive(t, events, 30*time.Second, "watch after Resume and Cut")
		if !ok {
			t.Fatal("the watch closed, yet the agent was away for seconds only")
		}
		if ev != nil && string(ev.Value) == "after" {
			return
		}
	}
}
