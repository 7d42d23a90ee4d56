package kvtest

import (
	"maps"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
)

// Helpers for a backend's own tests, beside the suite: each fails the test with a message naming
// what was expected instead of returning an error, so a test reads as the steps it takes.

// MustPut writes value at key, failing the test on an error.
func MustPut(t testing.TB, st kvstore.Store, key, value string, opts *kvstore.WriteOptions) {
	t.Helper()
	if err := st.Put(t.Context(), key, []byte(value), opts); err != nil {
		t.Fatalf("Put(%q, %q): %v", key, value, err)
	}
}

// MustGet reads key, failing the test on an error (ErrKeyNotFound included).
func MustGet(t testing.TB, st kvstore.Store, key string) *kvstore.KVPair {
	t.Helper()
	pair, err := st.Get(t.Context(), key, nil)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return pair
}

// MustList lists dir, failing the test on an error (ErrKeyNotFound included).
func MustList(t testing.TB, st kvstore.Store, dir string) []*kvstore.KVPair {
	t.Helper()
	pairs, err := st.List(t.Context(), dir, nil)
	if err != nil {
		t.Fatalf("List(%q): %v", dir, err)
	}
	return pairs
}

// Receive receives one value from ch. It fails the test if nothing arrives within d; ok is false
// if the channel was closed.
func Receive[T any](t testing.TB, ch <-chan T, d time.Duration, what string) (v T, ok bool) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case v, ok = <-ch:
		return v, ok
	case <-timer.C:
		t.Fatalf("%s: nothing received within %s", what, d)
		return v, false
	}
}

// MustReceive is Receive that also fails on a closed channel.
func MustReceive[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	v, ok := Receive(t, ch, d, what)
	if !ok {
		t.Fatalf("%s: channel closed unexpectedly", what)
	}
	return v
}

// ExpectClosed drains ch until it is closed and fails the test if that takes longer than d. It
// logs how long the close took.
func ExpectClosed[T any](t testing.TB, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	start := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				t.Logf("%s: closed after %s", what, time.Since(start).Round(time.Millisecond))
				return
			}
		case <-timer.C:
			t.Fatalf("%s: channel still open %s later", what, d)
		}
	}
}

// ExpectQuiet fails the test if ch delivers anything (or closes) within d.
func ExpectQuiet[T any](t testing.TB, ch <-chan T, d time.Duration, what string) {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%s: channel closed unexpectedly", what)
		}
		t.Fatalf("%s: unexpected %v", what, describe(v))
	case <-time.After(d):
	}
}

// IsClosed reports whether a struct{} channel (a lock's lost channel) is closed, without waiting.
func IsClosed(ch <-chan struct{}) bool { return chans.Closed(ch) }

// Values returns the keys and values of a listing, to compare it with a map.
func Values(pairs []*kvstore.KVPair) map[string]string {
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		m[p.Key] = string(p.Value)
	}
	return m
}

// AwaitListing receives listings from a WatchTree channel until one holds exactly want (keys and
// values), failing the test if none does within d. Listings sent between two writes, which a
// WatchTree may send, are passed over.
func AwaitListing(t testing.TB, ch <-chan []*kvstore.KVPair, want map[string]string, d time.Duration, what string) {
	t.Helper()
	var got map[string]string
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if got = Values(MustReceive(t, ch, time.Until(deadline), what)); maps.Equal(got, want) {
			return
		}
	}
	t.Fatalf("%s: listing %q, want %q", what, got, want)
}
