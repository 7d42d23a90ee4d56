package consul_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/consul"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// open opens a Store that the test closes when it ends.
func open(t *testing.T, eps []string, cfg *kvstore.Config) kvstore.Store {
	t.Helper()
	st, err := consul.New(t.Context(), eps, cfg)
	if err != nil {
		t.Fatalf("New(%v): %v", eps, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// dirFor returns a directory no other test or run uses.
func dirFor(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "consul-test/" + t.Name() + "-" + hex.EncodeToString(b)
}

func expectValue(t *testing.T, what string, pair *kvstore.KVPair, want string) {
	t.Helper()
	if pair == nil || string(pair.Value) != want {
		t.Fatalf("%s = %+v, want value %q", what, pair, want)
	}
}

// TestWatchDeleteBetweenQueries: a key deleted and created again while the watcher is busy is
// still reported as a deletion then a new pair, although Consul answers the next blocking query
// with the new key only (told apart by its CreateIndex).
func TestWatchDeleteBetweenQueries(t *testing.T) {
	st := open(t, endpoints, nil)
	key := dirFor(t) + "/k"
	kvtest.MustPut(t, st, key, "v1", nil)
	ch, err := st.Watch(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing is received yet: the watch holds v1 and cannot query before it is taken.
	if err := st.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	kvtest.MustPut(t, st, key, "v2", nil)
	first, _ := kvtest.Receive(t, ch, 5*time.Second, "current value")
	expectValue(t, "first event", first, "v1")
	if del, _ := kvtest.Receive(t, ch, 5*time.Second, "deletion"); del != nil {
		t.Fatalf("second event = %+v, want the deletion (nil)", del)
	}
	again, _ := kvtest.Receive(t, ch, 5*time.Second, "re-creation")
	expectValue(t, "third event", again, "v2")
}

// TestWatchCancelWithinOneSecond measures how long a watch blocked in a Consul blocking query
// takes to close after its context is cancelled: the query carries the context, so it ends at
// once rather than at the end of its wait time (libkv's took up to 15s).
func TestWatchCancelWithinOneSecond(t *testing.T) {
	st := open(t, endpoints, nil)
	for _, missing := range []bool{false, true} {
		key := dirFor(t) + "/k"
		if !missing {
			kvtest.MustPut(t, st, key, "v", nil)
		}
		ctx, cancel := context.WithCancel(t.Context())
		ch, err := st.Watch(ctx, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !missing {
			kvtest.Receive(t, ch, 5*time.Second, "current value")
		}
		time.Sleep(200 * time.Millisecond) // the next blocking query is in flight
		start := time.Now()
		cancel()
		for range ch {
		}
		took := time.Since(start)
		t.Logf("watch (key missing: %v) closed %s after cancel", missing, took)
		if took > time.Second {
			t.Errorf("watch closed %s after cancel, want under 1s", took)
		}
	}
}

// TestProcessWideHTTPUntouched: a Store neither uses nor changes http.DefaultClient and
// http.DefaultTransport. Both are swapped for a spy during the test (top-level tests do not run
// in parallel, so nothing else sees it).
func TestProcessWideHTTPUntouched(t *testing.T) {
	spy := &spyTransport{}
	savedTransport, savedClientTransport := http.DefaultTransport, http.DefaultClient.Transport
	http.DefaultTransport, http.DefaultClient.Transport = spy, spy
	t.Cleanup(func() { http.DefaultTransport, http.DefaultClient.Transport = savedTransport, savedClientTransport })

	st := open(t, endpoints, &kvstore.Config{Token: "ignored-without-acls"})
	key := dirFor(t) + "/k"
	kvtest.MustPut(t, st, key, "v", nil)
	if _, err := st.Get(t.Context(), key, nil); err != nil {
		t.Fatal(err)
	}
	lock, err := st.NewLock(t.Context(), key+"-lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := lock.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := spy.used.Load(); n != 0 {
		t.Errorf("http.DefaultTransport or http.DefaultClient used %d times", n)
	}
	if http.DefaultTransport != spy || http.DefaultClient.Transport != spy ||
		http.DefaultClient.Timeout != 0 || http.DefaultClient.Jar != nil || http.DefaultClient.CheckRedirect != nil {
		t.Errorf("http.DefaultClient or http.DefaultTransport changed")
	}
}

// spyTransport counts and fails every request.
type spyTransport struct{ used atomic.Int32 }

func (s *spyTransport) RoundTrip(*http.Request) (*http.Response, error) {
	s.used.Add(1)
	return nil, errors.New("the process-wide HTTP transport was used")
}

// TestFailover: with a dead endpoint first, the Store works through the next one; with only dead
// endpoints, New fails within the connection timeout.
func TestFailover(t *testing.T) {
	dead := "127.0.0.1:" + fmt.Sprint(testserver.FreePort(t))
	st := open(t, []string{dead, endpoints[0]}, &kvstore.Config{ConnectionTimeout: 2 * time.Second})
	key := dirFor(t) + "/k"
	kvtest.MustPut(t, st, key, "through the second endpoint", nil)
	pair, err := st.Get(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectValue(t, "Get", pair, "through the second endpoint")

	const timeout = time.Second
	start := time.Now()
	_, err = consul.New(t.Context(), []string{dead, "127.0.0.1:" + fmt.Sprint(testserver.FreePort(t))}, &kvstore.Config{ConnectionTimeout: timeout})
	took := time.Since(start)
	if !errors.Is(err, kvstore.ErrUnreachable) {
		t.Errorf("New with dead endpoints: %v, want ErrUnreachable", err)
	}
	// The bound is the timeout plus scheduling slack on a loaded machine.
	if took > timeout+time.Second {
		t.Errorf("New with dead endpoints took %s, timeout %s", took, timeout)
	}
	t.Logf("New with dead endpoints failed after %s: %v", took, err)
}

// TestShortTTLRaised: a TTL under what the server allows is not an error: the session TTL is
// raised to the server's session_ttl_min (1s here), so the key lasts 2s instead of 300ms.
func TestShortTTLRaised(t *testing.T) {
	st := open(t, endpoints, nil)
	key := dirFor(t) + "/k"
	start := time.Now()
	kvtest.MustPut(t, st, key, "short", &kvstore.WriteOptions{TTL: 300 * time.Millisecond})
	time.Sleep(time.Second)
	if _, err := st.Get(t.Context(), key, nil); err != nil {
		t.Fatalf("key gone %s after a 300ms TTL write, before the 2s floor: %v", time.Since(start), err)
	}
	for {
		_, err := st.Get(t.Context(), key, nil)
		if errors.Is(err, kvstore.ErrKeyNotFound) {
			t.Logf("key expired %s after a 300ms TTL write", time.Since(start))
			return
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("key still there %s after its write: %v", time.Since(start), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPutOnHeldLock: a plain Put on a held lock's key changes the value and keeps the lock; a
// Put with a TTL there is refused, since the lock's session cannot also be the TTL's.
func TestPutOnHeldLock(t *testing.T) {
	holder, other := open(t, endpoints, nil), open(t, endpoints, nil)
	key := dirFor(t) + "/lock"
	lock, err := holder.NewLock(t.Context(), key, &kvstore.LockOptions{Value: []byte("holder"), TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lost, err := lock.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	kvtest.MustPut(t, other, key, "overwritten", nil)
	err = other.Put(t.Context(), key, []byte("ttl"), &kvstore.WriteOptions{TTL: 2 * time.Second})
	if !errors.Is(err, kvstore.ErrCallNotSupported) {
		t.Errorf("Put with TTL on a held lock: %v, want ErrCallNotSupported", err)
	}
	intruder, _ := other.NewLock(t.Context(), key, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, err := intruder.Lock(ctx); err == nil {
		t.Fatal("another Locker took the lock after a plain Put on its key")
	}
	select {
	case <-lost:
		t.Fatal("the lock was lost after a plain Put on its key")
	default:
	}
	pair, err := other.Get(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectValue(t, "Get of the lock key", pair, "overwritten")
	if err := lock.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestUnprintableKeys: Consul's HTTP server refuses URLs holding characters that are not
// printable; keys holding them still work for reads, watches and locks, which go through the
// longest printable prefix or a transaction body.
func TestUnprintableKeys(t *testing.T) {
	st := open(t, endpoints, nil)
	dir := dirFor(t)
	key := dir + "/zero\u200bwidth/private\ue000use"
	ch, err := st.Watch(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.MustPut(t, st, dir+"/zero\u200bwidth/sibling", "s", nil)
	kvtest.MustPut(t, st, key, "v", nil)
	ev, _ := kvtest.Receive(t, ch, 5*time.Second, "creation")
	expectValue(t, "event", ev, "v")
	pairs, err := st.List(t.Context(), dir+"/zero\u200bwidth", nil)
	if err != nil || len(pairs) != 2 {
		t.Fatalf("List below an unprintable directory = %v, %v; want 2 pairs", pairs, err)
	}
	if err := st.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	if ev, _ := kvtest.Receive(t, ch, 5*time.Second, "deletion"); ev != nil {
		t.Fatalf("event = %+v, want the deletion", ev)
	}
	lock, err := st.NewLock(t.Context(), key, &kvstore.LockOptions{Value: []byte("locked")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	ev, _ = kvtest.Receive(t, ch, 5*time.Second, "lock acquisition")
	expectValue(t, "event", ev, "locked")
	if err := lock.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestValueSize: values travel base64-encoded in 512 KiB transaction bodies, so about 380 KiB
// is the most a value can hold; beyond Consul's limit the error is kvstore.ErrValueTooLarge.
func TestValueSize(t *testing.T) {
	st := open(t, endpoints, nil)
	key := dirFor(t) + "/k"
	large := make([]byte, 380<<10)
	_, _ = rand.Read(large)
	if err := st.Put(t.Context(), key, large, nil); err != nil {
		t.Fatalf("Put of 380 KiB: %v", err)
	}
	pair, err := st.Get(t.Context(), key, nil)
	if err != nil || !bytes.Equal(pair.Value, large) {
		t.Fatalf("Get of 380 KiB: %d bytes, %v", len(pair.Value), err)
	}
	err = st.Put(t.Context(), key, make([]byte, 600<<10), nil)
	if !errors.Is(err, kvstore.ErrValueTooLarge) {
		t.Errorf("Put of 600 KiB: %v, want ErrValueTooLarge", err)
	}
}
