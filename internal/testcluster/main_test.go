package testcluster_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that stopping the control plane leaves no goroutine behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// klog and client-go start package-level goroutines on first use that live as long as
		// the process; they are not this package's.
		goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*Type).updateUnfinishedWorkLoop"),
	)
}
