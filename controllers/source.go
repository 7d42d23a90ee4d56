package controllers

import (
	"context"
	"math"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/event"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
)

// mirrorEvent is what a watch sends to the controller: which mirror to reconcile. The controller
// consumes the channel through a source.Channel.
type mirrorEvent = event.TypedGenericEvent[*v1alpha1.KVMirror]

// watches runs one WatchTree per mirror and Store (two on etcd, one per key layout) and turns
// every snapshot into a mirrorEvent. It holds no data: the reconcile re-lists the prefix, so a
// snapshot only says "look again", and a burst of snapshots collapses into one reconcile in the
// workqueue.
//
// Each watch owns a lease on each of its Stores, so a Store stays open exactly while some mirror watches
// through it. Its goroutines are stopped and waited for by stop, stopAll and the end of run.
type watches struct {
	events chan mirrorEvent
	// backoff spaces the restarts of a watch that failed or ended. Each watch steps a copy of it,
	// and takes a fresh copy once a snapshot arrives.
	backoff wait.Backoff

	mu      sync.Mutex
	running map[types.NamespacedName]*watch
	// pending holds, per mirror, when the oldest snapshot not yet handled by a reconcile arrived:
	// the start of the event-to-write latency.
	pending map[types.NamespacedName]time.Time
	stopped bool
}

type watch struct {
	// id says what is watched (connection keys and prefix); a change of either restarts the watch.
	id     string
	cancel context.CancelFunc
	done   chan struct{}
}

func newWatches(minBackoff, maxBackoff time.Duration) *watches {
	return &watches{
		events:  make(chan mirrorEvent),
		backoff: restartBackoff(minBackoff, maxBackoff),
		running: map[types.NamespacedName]*watch{},
		pending: map[types.NamespacedName]time.Time{},
	}
}

// restartBackoff doubles from minDelay up to maxDelay, each delay lengthened by up to 10% at
// random: after an outage, the watches of every mirror on the store do not restart in lockstep.
func restartBackoff(minDelay, maxDelay time.Duration) wait.Backoff {
	return wait.Backoff{Duration: minDelay, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: maxDelay}
}

// ensure makes sure a watch of prefix through the leased Stores runs for mirror. If one with the
// same connections and prefix runs, nothing changes; a watch of anything else is stopped (and
// waited for) first. ensure takes its own lease on each Store; the caller keeps and releases
// leases. ctx provides the logger only: the watch lives until stop, not until ctx ends.
func (w *watches) ensure(ctx context.Context, mirror types.NamespacedName, leases []*lease, prefix string) {
	id := watchID(leases, prefix)
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	if cur, ok := w.running[mirror]; ok && cur.id == id {
		w.mu.Unlock()
		return
	}
	old := w.running[mirror]
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	wt := &watch{id: id, cancel: cancel, done: make(chan struct{})}
	w.running[mirror] = wt
	w.mu.Unlock()

	if old != nil {
		old.cancel()
		<-old.done
	}
	own := make([]*lease, 0, len(leases))
	for _, l := range leases {
		own = append(own, l.retain())
	}
	go w.run(wctx, wt, mirror, own, prefix)
}

// watchID says what a watch follows: the connections' keys and the prefix.
func watchID(leases []*lease, prefix string) string {
	var b strings.Builder
	for _, l := range leases {
		b.WriteString(l.c.key)
		b.WriteByte(0)
	}
	return b.String() + prefix
}

// stop ends mirror's watch, if any, and waits for it; its lease is released when it returns.
func (w *watches) stop(mirror types.NamespacedName) {
	w.mu.Lock()
	wt := w.running[mirror]
	delete(w.running, mirror)
	delete(w.pending, mirror)
	w.mu.Unlock()
	if wt != nil {
		wt.cancel()
		<-wt.done
	}
}

// stopAll ends every watch, waits for them, and makes ensure a no-op from then on.
func (w *watches) stopAll() {
	w.mu.Lock()
	w.stopped = true
	all := w.running
	w.running = map[types.NamespacedName]*watch{}
	w.mu.Unlock()
	for _, wt := range all {
		wt.cancel()
	}
	for _, wt := range all {
		<-wt.done
	}
}

// takeEventTime returns when the oldest unhandled snapshot for mirror arrived, and forgets it.
// A reconcile calls it before listing, so that snapshots arriving during the reconcile start a
// new interval.
func (w *watches) takeEventTime(mirror types.NamespacedName) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.pending[mirror]
	delete(w.pending, mirror)
	return t, ok
}

// count returns the number of running watches; for tests and metrics.
func (w *watches) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.running)
}

// treeWatcher is what a watch reads of a Store.
type treeWatcher interface {
	WatchTree(ctx context.Context, directory string, opts *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error)
}

// run follows prefix through each leased Store, in a goroutine of its own, until ctx ends, and
// waits for them: any Store's snapshot triggers the mirror's reconcile, which reads them all.
func (w *watches) run(ctx context.Context, wt *watch, mirror types.NamespacedName, leases []*lease, prefix string) {
	defer close(wt.done)
	var wg sync.WaitGroup
	for _, l := range leases {
		wg.Go(func() { w.keep(ctx, mirror, l, prefix) })
	}
	wg.Wait()
}

// keep keeps a WatchTree going until ctx ends, then releases l. The Store retries transient
// failures inside; when its channel closes anyway, or WatchTree fails, the backend is considered
// gone: the mirror is told (its reconcile reports the outage) and the watch is retried with
// exponential backoff.
func (w *watches) keep(ctx context.Context, mirror types.NamespacedName, l *lease, prefix string) {
	defer l.Release()
	log := logf.FromContext(ctx).WithValues("kvmirror", mirror, "prefix", prefix, "backend", l.c.label)
	backoff := w.backoff
	for {
		delivered, err := w.follow(ctx, l.Store(), mirror, prefix)
		if ctx.Err() != nil {
			return
		}
		if delivered {
			backoff = w.backoff
		}
		delay := backoff.Step()
		if err != nil {
			log.Info("watch failed, retrying", "error", err.Error(), "backoff", delay)
		} else {
			log.Info("watch ended, restarting", "backoff", delay)
		}
		w.notify(ctx, mirror)
		if !sleep(ctx, delay) {
			return
		}
	}
}

// follow runs one WatchTree of prefix and notifies the controller of every snapshot until the
// channel closes. It reports whether any snapshot arrived.
func (w *watches) follow(ctx context.Context, s treeWatcher, mirror types.NamespacedName, prefix string) (bool, error) {
	ch, err := s.WatchTree(ctx, prefix, nil)
	if err != nil {
		return false, err
	}
	delivered := false
	for range ch {
		delivered = true
		w.notify(ctx, mirror)
	}
	return delivered, nil
}

// sleep waits for d and reports true, or reports false as soon as ctx ends.
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// notify records the event time and hands the controller a request for mirror. It blocks until
// the controller takes it or ctx ends, which applies backpressure to the Store's watch instead
// of dropping the event.
func (w *watches) notify(ctx context.Context, mirror types.NamespacedName) {
	w.mu.Lock()
	if _, ok := w.pending[mirror]; !ok {
		w.pending[mirror] = time.Now()
	}
	w.mu.Unlock()
	obj := &v1alpha1.KVMirror{ObjectMeta: metav1.ObjectMeta{Namespace: mirror.Namespace, Name: mirror.Name}}
	select {
	case w.events <- mirrorEvent{Object: obj}:
	case <-ctx.Done():
	}
}
