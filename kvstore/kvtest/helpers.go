package kvtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Bounds shared by many tests. The contract promises 1 s for watch closing and lock hand-over;
// the suite allows a margin for a loaded 2-core machine running several servers, yet stays far
// below what the faults it guards against take (a hand-over that waits for a lock-delay of 15 s,
// a watch that closes only on the next event, i.e. never in these tests).
const (
	// closeBound: a watch channel closes within 1 s of cancel or Close; 2 s absorbs scheduling
	// delays under -race on 2 cores.
	closeBound = 2 * time.Second
	// eventBound: how long a test waits for an event it caused. Generous: a missing event is a
	// failure either way, only the time to report it grows.
	eventBound = 10 * time.Second
	// quietPeriod: how long a test listens to be sure that no spurious event follows.
	quietPeriod = 300 * time.Millisecond
)

// randomPrefix returns "kvtest/<test>-<random>", a directory no other test or run shares.
func randomPrefix(t *testing.T) string {
	t.Helper()
	name := t.Name()
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "kvtest/" + name + "-" + hex.EncodeToString(b)
}

// ctx returns a context that ends with the test or after d, whichever comes first.
func ctxWithin(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// expectErr fails unless err wraps want.
func expectErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// expectMissing fails unless key is absent: Get ErrKeyNotFound and Exists false.
func expectMissing(t *testing.T, st kvstore.Store, key string) {
	t.Helper()
	if pair, err := st.Get(t.Context(), key, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("Get(%q) = %s, %v; want ErrKeyNotFound", key, fmtPair(pair), err)
	}
	if ok, err := st.Exists(t.Context(), key, nil); ok || err != nil {
		t.Errorf("Exists(%q) = %v, %v; want false, nil", key, ok, err)
	}
}

// expectEmptyDir fails unless List(dir) finds nothing: it is how tests prove "nothing written".
func expectEmptyDir(t *testing.T, st kvstore.Store, dir string) {
	t.Helper()
	pairs, err := st.List(t.Context(), dir, nil)
	if !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List(%q) = %s, %v; want ErrKeyNotFound (nothing written)", dir, fmtPairs(pairs), err)
	}
}

// checkPair fails if a returned pair breaks the KVPair rules: canonical key, non-nil value,
// non-zero index.
func checkPair(t *testing.T, what string, pair *kvstore.KVPair) {
	t.Helper()
	if pair == nil {
		t.Fatalf("%s returned a nil pair", what)
	}
	if canonical := kvstore.Canonical(pair.Key); pair.Key != canonical || pair.Key == "" {
		t.Errorf("%s: key %q is not canonical", what, pair.Key)
	}
	if pair.Value == nil {
		t.Errorf("%s: %q has a nil Value (want an empty slice for an empty value)", what, pair.Key)
	}
	if pair.LastIndex == 0 {
		t.Errorf("%s: %q has LastIndex 0", what, pair.Key)
	}
}

// expectPair fails unless pair has the given key and value.
func expectPair(t *testing.T, what string, pair *kvstore.KVPair, key, value string) {
	t.Helper()
	checkPair(t, what, pair)
	if pair.Key != key || string(pair.Value) != value {
		t.Errorf("%s = %s, want %q=%q", what, fmtPair(pair), key, value)
	}
}

// expectKeys fails unless pairs hold exactly keys, in that order.
func expectKeys(t *testing.T, what string, pairs []*kvstore.KVPair, keys ...string) {
	t.Helper()
	if !sameKeys(pairs, keys) {
		t.Errorf("%s = %s, want keys %q", what, fmtPairs(pairs), keys)
	}
}

func sameKeys(pairs []*kvstore.KVPair, keys []string) bool {
	if len(pairs) != len(keys) {
		return false
	}
	for i, p := range pairs {
		if p == nil || p.Key != keys[i] {
			return false
		}
	}
	return true
}

// samePair compares key, value and index; nil equals only nil.
func samePair(a, b *kvstore.KVPair) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.LastIndex == b.LastIndex
}

func fmtPair(p *kvstore.KVPair) string {
	if p == nil {
		return "<nil>"
	}
	v := string(p.Value)
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return fmt.Sprintf("%q=%q@%d", p.Key, v, p.LastIndex)
}

func fmtPairs(pairs []*kvstore.KVPair) string {
	if pairs == nil {
		return "nil"
	}
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		parts[i] = fmtPair(p)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func describe(v any) string {
	switch v := v.(type) {
	case *kvstore.KVPair:
		return fmtPair(v)
	case []*kvstore.KVPair:
		return fmtPairs(v)
	}
	return fmt.Sprint(v)
}

// waitFor polls cond until it holds and fails the test if it does not within d. It is for
// states the contract does not announce by an event (a TTL expiry seen through Get).
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not true within %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unsupported handles a test that needs capability c: when the backend declares it unsupported,
// check is run (it must show ErrCallNotSupported), the outcome is logged, and true is returned so
// the test stops there. It is reported, never a silent skip.
func (s Suite) unsupported(t *testing.T, c Capability, check func()) bool {
	t.Helper()
	if s.supports(c) {
		return false
	}
	check()
	if !t.Failed() {
		t.Logf("backend declares no %s support: checked ErrCallNotSupported", c)
	}
	return true
}

// mustGet is MustGet that also checks the KVPair rules on the pair returned.
func mustGet(t *testing.T, st kvstore.Store, key string) *kvstore.KVPair {
	t.Helper()
	pair := MustGet(t, st, key)
	checkPair(t, "Get", pair)
	return pair
}
