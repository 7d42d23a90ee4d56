package valkeyrie_test

import (
	"testing"

	"github.com/kvtools/valkeyrie/store"
	"github.com/kvtools/valkeyrie/testsuite"

	"github.com/kvmirror/kvmirror/kvstore/compat/internal/compattest"
	"github.com/kvmirror/kvmirror/kvstore/compat/valkeyrie"
)

// suites are valkeyrie's published test suites, each given fresh adapters opened by open. The
// suites use fixed keys of their own, disjoint between suites, so they run in parallel on one
// backend.
var suites = []struct {
	name string
	run  func(t *testing.T, open func(*testing.T) store.Store)
}{
	{"Common", func(t *testing.T, open func(*testing.T) store.Store) { testsuite.RunTestCommon(t, open(t)) }},
	{"ListLock", func(t *testing.T, open func(*testing.T) store.Store) { testsuite.RunTestListLock(t, open(t)) }},
	{"Atomic", func(t *testing.T, open func(*testing.T) store.Store) { testsuite.RunTestAtomic(t, open(t)) }},
	{"Watch", func(t *testing.T, open func(*testing.T) store.Store) { testsuite.RunTestWatch(t, open(t)) }},
	{"Lock", func(t *testing.T, open func(*testing.T) store.Store) { testsuite.RunTestLock(t, open(t)) }},
	{"LockTTL", func(t *testing.T, open func(*testing.T) store.Store) { testsuite.RunTestLockTTL(t, open(t), open(t)) }},
	{"TTL", func(t *testing.T, open func(*testing.T) store.Store) { testsuite.RunTestTTL(t, open(t), open(t)) }},
}

// TestValkeyrieSuites runs every valkeyrie suite through the adapter on each backend, then
// valkeyrie's clean-up, which must find nothing it cannot delete.
//
// The adapters are closed when the backend's test ends, not when the suite that opened them
// does: valkeyrie's watch tests return while a goroutine of theirs still writes for up to a
// second, and a write to a closed Store would fail the finished test.
func TestValkeyrieSuites(t *testing.T) {
	for _, b := range compattest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			kv := b.Start(t)
			backend := t
			open := func(t *testing.T) store.Store {
				st := valkeyrie.New(kv(t))
				backend.Cleanup(func() {
					if err := st.Close(); err != nil {
						backend.Errorf("close: %v", err)
					}
				})
				return st
			}
			t.Run("suites", func(t *testing.T) {
				for _, s := range suites {
					t.Run(s.name, func(t *testing.T) {
						t.Parallel()
						s.run(t, open)
					})
				}
			})
			testsuite.RunCleanup(t, open(t))
		})
	}
}
