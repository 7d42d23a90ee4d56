// Package memstore is an in-memory kvstore.Store that implements the whole contract, locks,
// TTLs, watches and Close included, and passes the kvtest conformance suite
// (kvstore/kvtest/kvtest_test.go runs it). It is for unit tests: library users' tests of code
// written against kvstore.Store, and the operator's tests of its reconciler and leadership,
// which then need no store server. It is not a backend: it registers no name, and nothing
// persists beyond its Backend.
//
// A Backend plays the server; each Store opened on it plays one client with its own session:
// its watches, and the locks it holds, end when it is closed.
//
//	backend := memstore.New()
//	defer backend.Close()
//	store := backend.Open()
//	defer store.Close()
package memstore
