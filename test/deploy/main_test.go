// Package deploy_test checks the manifests users deploy kvmirror with: what `make build-installer`
// and `make deploy` render from config/default, read as data (kinds, RBAC rules, the pod's
// security and probes) and applied to a real API server, where the manager's ServiceAccount is
// impersonated to show that its rights are what the manager needs and nothing more.
package deploy_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// The rendered installer and the manager binary are shared by the tests, so they outlive
	// any one test's TempDir.
	removeShared()
	if code == 0 {
		if err := goleak.Find(
			// klog and client-go start package-level goroutines on first use that live as long
			// as the process.
			goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
			goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*Type).updateUnfinishedWorkLoop"),
		); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
