package kvtest

import (
	"slices"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Suite runs the kvstore conformance tests against one backend.
type Suite struct {
	// New opens a new, independent Store on the backend under test (its own connection and
	// session). The suite closes every Store it opens with t.Cleanup; Close is idempotent, so a
	// New that also registers a Close of its own is harmless. Tests open several Stores to play
	// several clients: locks, watches and Close must work between them as between processes
	// (for BoltDB, between several Stores on one file).
	New func(t *testing.T) kvstore.Store

	// Unsupported declares what the backend truly cannot do; the suite then checks that those
	// calls return kvstore.ErrCallNotSupported, and that everything else works.
	Unsupported []Capability

	// LockTTL is the lock TTL the lock tests use; zero means 2s. TTL is the key TTL the TTL tests
	// use; zero means 2s. Timing bounds are derived from them.
	LockTTL, TTL time.Duration
}

// Capability names an optional part of the contract that a backend may declare Unsupported.
type Capability string

const (
	// CapTTL is Put and AtomicPut with WriteOptions.TTL.
	CapTTL Capability = "ttl"
	// CapLock is NewLock and Locker.
	CapLock Capability = "lock"
	// CapWatch is Watch and WatchTree.
	CapWatch Capability = "watch"
)

const defaultTTL = 2 * time.Second

// test is one conformance test; name is its subtest name, stable so that backends can select
// tests with -run (for example -run 'Conformance/kvtest/Lock').
type test struct {
	name string
	fn   func(t *testing.T, s Suite)
}

// Run runs every test as a parallel subtest of one "kvtest" subtest, and returns when all of
// them have finished, so a caller may stop its server right after Run (with defer, too).
func (s Suite) Run(t *testing.T) {
	t.Helper()
	if s.New == nil {
		t.Fatal("kvtest: Suite.New is nil")
	}
	t.Run("kvtest", func(t *testing.T) {
		for _, tc := range allTests() {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, s)
			})
		}
	})
}

func allTests() []test {
	var all []test
	for _, group := range [][]test{
		keyTests, crudTests, listTests, atomicTests, watchTests, watchTreeTests,
		lockTests, lockLossTests, ttlTests, closeTests,
	} {
		all = append(all, group...)
	}
	return all
}

func (s Suite) supports(c Capability) bool {
	return !slices.Contains(s.Unsupported, c)
}

func (s Suite) lockTTL() time.Duration {
	if s.LockTTL > 0 {
		return s.LockTTL
	}
	return defaultTTL
}

func (s Suite) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return defaultTTL
}

// open calls New and closes the Store when the test ends.
func (s Suite) open(t *testing.T) kvstore.Store {
	t.Helper()
	st := s.New(t)
	if st == nil {
		t.Fatal("kvtest: Suite.New returned a nil Store")
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}
