// Package kvtest is the conformance suite every kvstore backend runs against its real server.
// It pins each promise of the kvstore contract, as the documentation of kvstore.Store, its methods
// and its errors states it (canonical keys, listings, atomic writes, watches that close on cancel
// or Close, locks and their loss, TTLs), so that a program written against one backend behaves
// the same on every other one, which libkv and valkeyrie never achieved.
//
// A backend's test opens its server and runs the suite:
//
//	func TestConformance(t *testing.T) {
//		endpoints := startServer(t)
//		kvtest.Suite{
//			New: func(t *testing.T) kvstore.Store {
//				st, err := etcd.New(t.Context(), endpoints, nil)
//				if err != nil {
//					t.Fatal(err)
//				}
//				return st
//			},
//		}.Run(t)
//	}
//
// Run returns once every test has finished. Tests are subtests of "kvtest" named after what they
// check, topics first (KeysCanonical, ListRecursive, AtomicPutChain, WatchDelete, WatchTreeDepth,
// LockExpiry, TTLExtend, CloseThenCall, ...), so a backend can select some with
// -run 'TestConformance/kvtest/Lock'. Each documents the libkv or valkeyrie fault it guards
// against. Every test writes below its own random prefix ("kvtest/<test>-<random>"), so tests
// run in parallel, may share one server with other packages, and never depend on clean-up.
//
// Timing assertions allow for a loaded 2-core machine: each bound is the contract's number plus
// a stated margin, derived from Suite.TTL and Suite.LockTTL where they matter. A capability the
// backend declares Unsupported is checked to fail with kvstore.ErrCallNotSupported, and the
// tests that need it log so instead of skipping silently.
package kvtest
