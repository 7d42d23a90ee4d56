package testserver_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the package's own (process waiters,
// proxy copiers) must all end by the time a test's clean-ups have run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
