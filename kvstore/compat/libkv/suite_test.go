package libkv_test

import (
	"testing"

	"github.com/docker/libkv/store"
	"github.com/docker/libkv/testutils"

	"github.com/kvmirror/kvmirror/kvstore/compat/internal/compattest"
	"github.com/kvmirror/kvmirror/kvstore/compat/libkv"
)

// suites are libkv's published test suites, each given fresh adapters opened by open. The suites
// use fixed keys of their own, disjoint between suites, so they run in parallel on one backend.
var suites = []struct {
	name string
	run  func(t *testing.T, open func(*testing.T) store.Store)
}{
	{"Common", func(t *testing.T, open func(*testing.T) store.Store) { testutils.RunTestCommon(t, open(t)) }},
	{"Atomic", func(t *testing.T, open func(*testing.T) store.Store) { testutils.RunTestAtomic(t, open(t)) }},
	{"Watch", func(t *testing.T, open func(*testing.T) store.Store) { testutils.RunTestWatch(t, open(t)) }},
	{"Lock", func(t *testing.T, open func(*testing.T) store.Store) { testutils.RunTestLock(t, open(t)) }},
	{"LockTTL", func(t *testing.T, open func(*testing.T) store.Store) { testutils.RunTestLockTTL(t, open(t), open(t)) }},
	{"TTL", func(t *testing.T, open func(*testing.T) store.Store) { testutils.RunTestTTL(t, open(t), open(t)) }},
}

// TestLibkvSuites runs every libkv suite through the adapter on each backend, then libkv's
// clean-up, which must find nothing it cannot delete.
//
// The adapters are closed when the backend's test ends, not when the suite that opened them
// does: libkv's watch tests return while a goroutine of theirs still writes for up to a second,
// and a write to a closed Store would fail the finished test.
func TestLibkvSuites(t *testing.T) {
	for _, b := range compattest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			kv := b.Start(t)
			backend := t
			open := func(t *testing.T) store.Store {
				st := libkv.New(kv(t))
				backend.Cleanup(st.Close)
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
			testutils.RunCleanup(t, open(t))
		})
	}
}
