package valkeyrie_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a goroutine is left once the tests are done: closing an adapter
// must end every watch it forwards and close its kvstore.Store.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
