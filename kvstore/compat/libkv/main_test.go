package libkv_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine is left once the tests are done: closing an adapter
// must end every watch it forwards and every stop channel it watches, and close its kvstore.Store.
//
// One goroutine is libkv's own and is left by design of its suite, not by the adapter: in
// testLockTTL, the goroutine that waits for the blocked Lock then sends on an unbuffered channel
// that the test no longer reads once it has stopped that Lock, so it blocks for ever, on every
// backend.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/docker/libkv/testutils.testLockTTL.func1"))
}
