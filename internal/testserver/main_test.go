package testserver_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: the package's own (process waiters,
// proxy copiers) must all end by the time a test's clean-ups have run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// klog and client-go start package-level goroutines on first use that live as long as
		// the process; they are not this package's.
		goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*Type).updateUnfinishedWorkLoop"),
	)
}
