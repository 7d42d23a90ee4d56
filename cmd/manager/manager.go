package main

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/controllers"
	"github.com/kvmirror/kvmirror/internal/leadergate"
)

// run builds the manager, then the leadership gate if replicas elect one, then the controllers,
// and runs them until ctx ends.
func run(ctx context.Context, cfg *rest.Config, o *options) error {
	if o.embedded.enabled() {
		stop, err := startEmbeddedEtcd(ctx, o.embedded)
		if err != nil {
			return err
		}
		defer stop()
	}
	mgr, err := newManager(cfg, o)
	if err != nil {
		return err
	}
	var gate *leadergate.Gate
	if o.leader.Enabled() {
		gate = leadergate.New(o.leader, mgr.GetLogger().WithName("leader"))
	}
	if err := addControllers(mgr, o, gate); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// newManager builds a manager that serves metrics and probes and caches only what the
// controller reads. It does not elect a leader through Leases: leadership is a kvstore lock.
func newManager(cfg *rest.Config, o *options) (manager.Manager, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	cacheOpts := cache.Options{ByObject: controllers.CacheByObject()}
	if len(o.watchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.watchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOpts,
		Metrics:                metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress: o.probeAddr,
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	// Ready means serving: a replica that does not lead stays ready, so that a rollout does not
	// wait on an election.
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// addControllers builds the KVMirror controller and adds it to mgr. With a gate, the controller
// runs only while this replica holds the kvstore lock, and every ConfigMap write records the
// gate's identity and term; without one, it runs for the manager's whole life.
func addControllers(mgr manager.Manager, o *options, gate *leadergate.Gate) error {
	opts := controllers.Options{MaxConcurrentReconciles: o.maxConcurrent}
	if gate != nil {
		opts.Holder = gate.Holder
	}
	c, err := controllers.New(mgr, opts)
	if err != nil {
		return fmt.Errorf("create KVMirror controller: %w", err)
	}
	if gate != nil {
		return mgr.Add(gate.Guard(c))
	}
	return mgr.Add(c)
}
