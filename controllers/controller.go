package controllers

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
)

// Options configure the KVMirror controller. The zero value is ready to use.
type Options struct {
	// Name names the controller in logs, metrics and events. Default "kvmirror".
	Name string
	// MaxConcurrentReconciles is how many mirrors are reconciled at once. Default 4: a reconcile
	// mostly waits on a backend, and one slow backend should not hold up every other mirror.
	MaxConcurrentReconciles int
	// MinBackoff and MaxBackoff bound the exponential backoff between retries of a mirror whose
	// backend fails, and between restarts of a watch that ended (each restart delay lengthened by
	// up to 10% at random, so that the watches on one store do not restart in lockstep). Defaults
	// 1s and 1m: a backend that comes back is noticed within a minute even without a watch event.
	MinBackoff, MaxBackoff time.Duration
	// Open opens Stores. Default kvstore.Open, which needs the backend packages imported.
	Open OpenFunc
	// SkipNameValidation allows several controllers of one Name in a process (tests).
	SkipNameValidation bool
	// Holder, when set, names the leadership this controller runs under: every ConfigMap write
	// carries the identity and term it returns in the kvmirror.io/leader and
	// kvmirror.io/leader-term annotations, a record that shows which replica wrote what.
	Holder func() (identity string, term uint64)
}

func (o *Options) setDefaults() {
	if o.Name == "" {
		o.Name = "kvmirror"
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 4
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(time.Minute, o.MinBackoff)
	}
	if o.Open == nil {
		o.Open = kvstore.Open
	}
}

// Controller is the KVMirror controller together with what it owns: the watches of the
// key/value stores and the connection pool. It is a manager.Runnable: Start runs it until ctx
// ends, then stops every watch and closes every Store before returning.
//
// New builds it without adding it to the manager, so that it can be started later, for example
// only while this replica holds a leadership lock; SetupWithManager adds it to the manager. It
// must be started at most once (controller-runtime controllers cannot restart).
type Controller struct {
	ctrl       controller.Controller
	reconciler *Reconciler
	watches    *watches
	pool       *pool
}

// SetupWithManager builds the controller and adds it to mgr, which starts it with the manager
// (and, if the manager elects a leader, only on the leader).
func SetupWithManager(mgr manager.Manager, opts Options) (*Controller, error) {
	c, err := New(mgr, opts)
	if err != nil {
		return nil, err
	}
	return c, mgr.Add(c)
}

// New builds the controller on mgr's client, cache and event recorder, and registers its field
// index, without adding it to mgr. Call it before mgr.Start (indexes must exist before the cache
// starts); call Start once the manager's cache runs.
func New(mgr manager.Manager, opts Options) (*Controller, error) {
	opts.setDefaults()
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.KVMirror{}, secretRefIndex, secretRefs); err != nil {
		return nil, fmt.Errorf("index KVMirror secret references: %w", err)
	}
	w := newWatches(opts.MinBackoff, opts.MaxBackoff)
	r := &Reconciler{
		client:        mgr.GetClient(),
		apiReader:     mgr.GetAPIReader(),
		recorder:      mgr.GetEventRecorder(opts.Name),
		pool:          newPool(opts.Open),
		watches:       w,
		backends:      newBackendGauges(),
		written:       map[types.NamespacedName]string{},
		statusVersion: map[types.NamespacedName]string{},
		holder:        opts.Holder,
	}
	copts := controller.Options{
		Reconciler:              r,
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		SkipNameValidation:      &opts.SkipNameValidation,
		Logger:                  mgr.GetLogger().WithValues("controllerGroup", v1alpha1.GroupVersion.Group, "controllerKind", "KVMirror"),
		RateLimiter: workqueue.NewTypedMaxOfRateLimiter(
			workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](opts.MinBackoff, opts.MaxBackoff),
			// The overall limit of controller-runtime's default: 10 per second, bursts of 100.
			&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
		),
	}
	copts.DefaultFromConfig(mgr.GetControllerOptions())
	c, err := controller.NewUnmanaged(opts.Name, copts)
	if err != nil {
		return nil, err
	}
	for _, src := range r.sources(mgr.GetCache()) {
		if err := c.Watch(src); err != nil {
			return nil, err
		}
	}
	return &Controller{ctrl: c, reconciler: r, watches: w, pool: r.pool}, nil
}

// Start runs the controller until ctx ends, then stops the watches and closes the Stores. It
// returns after every goroutine it started has ended.
func (c *Controller) Start(ctx context.Context) error {
	defer c.pool.closeAll()
	defer c.watches.stopAll()
	return c.ctrl.Start(ctx)
}

// NeedLeaderElection makes a manager with leader election run the controller only on the leader.
func (c *Controller) NeedLeaderElection() bool { return true }

// ActiveWatches returns the number of KV watches running, one per mirror being mirrored.
func (c *Controller) ActiveWatches() int { return c.watches.count() }

// OpenStores returns the number of Stores open in the connection pool.
func (c *Controller) OpenStores() int { return c.pool.size() }

// sources are what triggers a reconcile: the mirror itself (spec changes only; status writes
// would otherwise trigger themselves), the ConfigMaps kvmirror writes (deleted or edited by
// someone), the Secrets mirrors reference (rotation), and the KV watches.
func (r *Reconciler) sources(c cache.Cache) []source.Source {
	return []source.Source{
		source.Kind(c, &v1alpha1.KVMirror{}, &handler.TypedEnqueueRequestForObject[*v1alpha1.KVMirror]{},
			predicate.TypedGenerationChangedPredicate[*v1alpha1.KVMirror]{}),
		source.Kind(c, &corev1.ConfigMap{}, r.configMapHandler()),
		source.Kind(c, &corev1.Secret{}, handler.TypedEnqueueRequestsFromMapFunc(r.secretToMirrors)),
		source.Channel(r.watches.events, &handler.TypedEnqueueRequestForObject[*v1alpha1.KVMirror]{}),
	}
}

// configMapHandler enqueues the mirror named by a ConfigMap's kvmirror.io/mirror label when the
// ConfigMap is created, changed or deleted by someone else: the version the mirror itself just
// wrote needs no reconcile, any other does (an edit is reverted, a deletion recreated).
func (r *Reconciler) configMapHandler() handler.TypedEventHandler[*corev1.ConfigMap, reconcile.Request] {
	enqueue := func(cm *corev1.ConfigMap, q workqueue.TypedRateLimitingInterface[reconcile.Request], deleted bool) {
		name := cm.Labels[v1alpha1.LabelMirror]
		if name == "" {
			return
		}
		mirror := types.NamespacedName{Namespace: cm.Namespace, Name: name}
		if !deleted && r.wroteVersion(mirror, cm) {
			return
		}
		q.Add(reconcile.Request{NamespacedName: mirror})
	}
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	return handler.TypedFuncs[*corev1.ConfigMap, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[*corev1.ConfigMap], q queue) {
			enqueue(e.Object, q, false)
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*corev1.ConfigMap], q queue) {
			enqueue(e.ObjectNew, q, false)
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[*corev1.ConfigMap], q queue) {
			enqueue(e.Object, q, true)
		},
	}
}

// secretToMirrors maps a Secret to the mirrors of its namespace that reference it.
func (r *Reconciler) secretToMirrors(ctx context.Context, s *corev1.Secret) []reconcile.Request {
	var list v1alpha1.KVMirrorList
	if err := r.client.List(ctx, &list, client.InNamespace(s.Namespace), client.MatchingFields{secretRefIndex: s.Name}); err != nil {
		return nil // only fails if the index is missing, which New prevents
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, m := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&m)})
	}
	return reqs
}

const secretRefIndex = "kvmirror.io/secretRefs"

// secretRefs is the index function of secretRefIndex: the Secrets a mirror reads.
func secretRefs(o client.Object) []string {
	m, ok := o.(*v1alpha1.KVMirror)
	if !ok {
		return nil
	}
	var names []string
	if ref := m.Spec.Backend.TLSSecretRef; ref != nil {
		names = append(names, ref.Name)
	}
	if ref := m.Spec.Backend.CredentialsSecretRef; ref != nil && (len(names) == 0 || names[0] != ref.Name) {
		names = append(names, ref.Name)
	}
	return names
}

// CacheByObject is the cache configuration the controller is designed for: only ConfigMaps
// labelled app.kubernetes.io/managed-by=kvmirror are cached, rather than every ConfigMap of the
// cluster. A ConfigMap in the way of a mirror is then found through the API server (see
// applyConfigMap), and its removal is noticed at the next resync. Pass it as
// cache.Options.ByObject.
func CacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.ConfigMap{}: {Label: labels.SelectorFromSet(labels.Set{v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue})},
	}
}
