package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
)

// TestAPIServerRestart stops the API server under a running manager, changes keys while it is
// away, and starts it again: the manager reconnects and the changes reach the ConfigMap. It runs
// its own control plane (not the suite's, which other tests use concurrently) with a fixed
// certificate folder, so that the restarted server keeps its certificates and port and the
// manager's credentials stay valid.
func TestAPIServerRestart(t *testing.T) {
	startSuite(t) // for the skip-or-fail policy on missing binaries and the logger
	env := newEnv()
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: t.TempDir()}
	// A kube-apiserver sent SIGTERM keeps running until the manager's watches end, which they
	// never do on their own; envtest kills it after this timeout, so the stop below is a crash
	// after a short grace period.
	env.ControlPlaneStopTimeout = 5 * time.Second
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start envtest: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	c, err := client.New(cfg, client.Options{Scheme: testScheme()})
	if err != nil {
		t.Fatal(err)
	}
	mgr, ctrl, err := newTestManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	// Clean-ups, not defers: they must run after the mirrors' own clean-ups, which need the API.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	h := &harness{client: c, ctrl: ctrl, ns: newNamespace(t, c)}
	fx := startBoltDB(t)
	p := randomPrefix()
	put(t, fx.store, p+"/a", "1")
	h.createMirror(t, "survivor", spec(fx, p))
	h.eventuallyData(t, "survivor", map[string]string{"a": "1"})

	api := env.ControlPlane.GetAPIServer()
	if err := api.Stop(); err != nil {
		t.Logf("stop API server: %v (killed)", err)
	}
	// Written while the API server is down: the watch fires, the reconcile fails and is retried.
	put(t, fx.store, p+"/b", "2")
	del(t, fx.store, p+"/a")
	if err := api.Start(); err != nil {
		t.Fatalf("restart API server: %v", err)
	}

	h.eventuallyData(t, "survivor", map[string]string{"b": "2"})
	h.eventuallyReady(t, "survivor", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	// The manager's informers work again: a mirror created after the restart is served.
	h.createMirror(t, "newcomer", spec(fx, p))
	h.eventuallyData(t, "newcomer", map[string]string{"b": "2"})
	g(t).Eventually(func() bool { return ctrl.hasWatch(h.ns, "newcomer") }).Should(gomega.BeTrue())
}
