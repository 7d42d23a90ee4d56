package controllers

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
)

// The operator's permissions. A mirror writes only ConfigMaps and reads only Secrets of its own
// namespace; the cluster-wide role is what lets one operator serve every namespace it watches.
//
// +kubebuilder:rbac:groups=kvmirror.io,resources=kvmirrors,verbs=get;list;watch
// +kubebuilder:rbac:groups=kvmirror.io,resources=kvmirrors/status,verbs=get;update;patch
// The ConfigMaps' owner reference blocks the owner's deletion; where the
// OwnerReferencesPermissionEnforcement admission plugin runs, setting it takes this right:
// +kubebuilder:rbac:groups=kvmirror.io,resources=kvmirrors/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="";events.k8s.io,resources=events,verbs=create;patch

// Reconciler makes a KVMirror's ConfigMap equal to the keys below its prefix. It is level-based:
// every reconcile lists the whole prefix, whatever triggered it (a watch snapshot, a change of
// the mirror, its Secrets or its ConfigMap, or the periodic resync).
type Reconciler struct {
	client    client.Client
	apiReader client.Reader
	recorder  events.EventRecorder
	pool      *pool
	watches   *watches
	backends  *backendGauges

	writtenMu sync.Mutex
	// written holds, per mirror, "name/resourceVersion" of the ConfigMap it last wrote.
	written map[types.NamespacedName]string
	// statusVersion holds, per mirror, the resourceVersion its last status write produced.
	statusVersion map[types.NamespacedName]string
	// holder names the leadership writes happen under; nil without KV leadership.
	holder func() (identity string, term uint64)
}

// outcome is the result of one sync, which the status, events, metrics and requeue follow.
type outcome struct {
	reason  string
	message string
	// err, when set, is returned to the controller so that the request is retried with the
	// rate limiter's backoff: the failure may pass without anything in the cluster changing.
	err error
	// mapped is what the ConfigMap now holds; nil when the ConfigMap was not brought up to date.
	mapped *mirrored
	// wrote tells whether the ConfigMap was created or changed.
	wrote bool
}

// Reconcile implements reconcile.Reconciler.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var m v1alpha1.KVMirror
	if err := r.client.Get(ctx, req.NamespacedName, &m); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone: its ConfigMap goes with it through the owner reference.
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !m.DeletionTimestamp.IsZero() {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}

	start := time.Now()
	var res outcome
	if m.Spec.Suspend {
		r.watches.stop(req.NamespacedName)
		res = outcome{reason: v1alpha1.ReasonSuspended, message: "spec.suspend is true; the ConfigMap keeps its last data"}
	} else {
		res = r.sync(ctx, &m)
	}
	syncsTotal.WithLabelValues(res.reason).Inc()
	defer func() { syncDuration.Observe(time.Since(start).Seconds()) }()

	if err := r.updateStatus(ctx, &m, &res); err != nil {
		return ctrl.Result{}, err
	}
	switch {
	case res.err != nil:
		return ctrl.Result{}, res.err
	case res.reason == v1alpha1.ReasonSuspended:
		return ctrl.Result{}, nil
	default:
		return ctrl.Result{RequeueAfter: resyncPeriod(&m)}, nil
	}
}

// failed turns an error into an outcome. Failures that only a change in the cluster can cure
// (a Secret, the spec, the ConfigMap in the way) are not retried with backoff: the watches on
// those objects trigger the next reconcile, and the resync is the safety net.
func failed(err error) outcome {
	res := outcome{reason: classify(err), message: err.Error()}
	switch res.reason {
	case v1alpha1.ReasonSecretNotFound, v1alpha1.ReasonInvalidSecret, v1alpha1.ReasonInvalidSpec, v1alpha1.ReasonTargetConflict:
	default:
		res.err = err
	}
	return res
}

// forget releases everything held for a mirror that no longer exists.
func (r *Reconciler) forget(mirror types.NamespacedName) {
	r.watches.stop(mirror)
	r.backends.forget(mirror)
	r.writtenMu.Lock()
	delete(r.written, mirror)
	delete(r.statusVersion, mirror)
	r.writtenMu.Unlock()
	forgetMirrorMetrics(mirror.Namespace, mirror.Name)
}

func resyncPeriod(m *v1alpha1.KVMirror) time.Duration {
	if p := m.Spec.ResyncPeriod; p != nil && p.Duration > 0 {
		return p.Duration
	}
	return DefaultResyncPeriod
}

// DefaultResyncPeriod is the resync period of a mirror whose spec has none (the CRD defaults it).
const DefaultResyncPeriod = 5 * time.Minute

func separator(m *v1alpha1.KVMirror) v1alpha1.Separator {
	if m.Spec.Target.Separator == "" {
		return "."
	}
	return m.Spec.Target.Separator
}
