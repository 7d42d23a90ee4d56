package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
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

// sync lists the prefix and brings the ConfigMap up to date.
func (r *Reconciler) sync(ctx context.Context, m *v1alpha1.KVMirror) outcome {
	key := client.ObjectKeyFromObject(m)
	prefix, err := kvstore.NormalizeDir(m.Spec.Prefix)
	if err == nil && prefix == "" {
		err = errors.New("the root cannot be mirrored")
	}
	if err != nil {
		r.watches.stop(key)
		return outcome{reason: v1alpha1.ReasonInvalidSpec, message: fmt.Sprintf("prefix %q: %v", m.Spec.Prefix, err)}
	}
	cfg, err := resolveBackend(ctx, r.client, m)
	if err != nil {
		// Without its Secrets the mirror cannot say which connection it should use; holding on
		// to the previous one would keep reading with credentials that were withdrawn.
		r.watches.stop(key)
		return failed(err)
	}

	// Taken before listing: a snapshot that arrives while we list starts a new interval and
	// triggers another reconcile.
	eventTime, hadEvent := r.watches.takeEventTime(key)
	l, err := r.pool.acquire(ctx, cfg)
	if err != nil {
		r.backends.set(key, cfg.label, false)
		return failed(fmt.Errorf("connect to %s: %w", cfg.label, err))
	}
	defer l.Release()
	r.watches.ensure(ctx, key, l, cfg.key, prefix)

	listCtx, cancel := context.WithTimeout(ctx, storeTimeout(cfg))
	pairs, err := l.Store().List(listCtx, prefix, nil)
	cancel()
	if errors.Is(err, kvstore.ErrKeyNotFound) {
		pairs, err = nil, nil
	}
	r.backends.set(key, cfg.label, err == nil)
	if err != nil {
		return failed(fmt.Errorf("list %q on %s: %w", prefix, cfg.label, err))
	}

	mapped := mapPairs(prefix, pairs, separator(m))
	if mapped.Bytes > MaxConfigMapBytes {
		return outcome{reason: v1alpha1.ReasonTooLarge, message: fmt.Sprintf(
			"the %d keys below %q add up to %d bytes, over the ConfigMap limit of %d; the ConfigMap keeps its last data",
			mapped.Keys, prefix, mapped.Bytes, MaxConfigMapBytes)}
	}
	wrote, err := r.applyConfigMap(ctx, m, mapped)
	if err != nil {
		return failed(err)
	}
	if wrote && hadEvent {
		eventToWrite.Observe(time.Since(eventTime).Seconds())
	}
	res := outcome{reason: v1alpha1.ReasonSynced, mapped: mapped, wrote: wrote,
		message: fmt.Sprintf("ConfigMap %q holds the %d keys below %q", m.ConfigMapName(), mapped.Keys, prefix)}
	if n := len(mapped.Skipped); n > 0 {
		res.reason = v1alpha1.ReasonInvalidKeys
		res.message = fmt.Sprintf("%d keys below %q could not be mirrored (see status.skippedKeys); ConfigMap %q holds the other %d",
			n, prefix, m.ConfigMapName(), mapped.Keys)
	}
	return res
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
