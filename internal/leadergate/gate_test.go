package leadergate

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/memstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// within bounds every wait of these tests; on memstore each step takes milliseconds.
const within = 5 * time.Second

const lockKey = "kvmirror/leader"

// fakeControllers records when the gate starts and stops it.
type fakeControllers struct {
	started chan struct{}
	stopped chan struct{}
	// onStop runs when the gate cancels the controllers, before Start returns.
	onStop func()
	// fail, when set, ends Start with it at once.
	fail error
}

func newFakeControllers() *fakeControllers {
	return &fakeControllers{started: make(chan struct{}), stopped: make(chan struct{})}
}

func (f *fakeControllers) Start(ctx context.Context) error {
	close(f.started)
	defer close(f.stopped)
	if f.fail != nil {
		return f.fail
	}
	<-ctx.Done()
	if f.onStop != nil {
		f.onStop()
	}
	return nil
}

func (f *fakeControllers) NeedLeaderElection() bool { return true }

// options returns completed Options for a candidate named identity on b, with short retries.
func options(t *testing.T, b *memstore.Backend, identity string) *Options {
	t.Helper()
	o := &Options{
		StoreURL: "memstore://", Key: lockKey, TTL: time.Second, Identity: identity, StoreTimeout: time.Second,
		Open: func(context.Context, string, *kvstore.Config) (kvstore.Store, error) { return b.Open(), nil },
		Retry: wait.Backoff{Duration: 10 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32,
			Cap: 50 * time.Millisecond},
	}
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	return o
}

// running is a guarded Runnable started in the background.
type running struct {
	gate   *Gate
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, o *Options, c *fakeControllers) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{gate: New(o, testr.New(t)), cancel: cancel, done: make(chan error, 1)}
	guarded := r.gate.Guard(c)
	if guarded.(interface{ NeedLeaderElection() bool }).NeedLeaderElection() {
		t.Error("the guarded Runnable must not wait for another election")
	}
	go func() { r.done <- guarded.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-r.done; err != nil {
			t.Logf("the gate ended with: %v", err)
		}
	})
	return r
}

// stop cancels the gate and returns what its Start returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.result(t)
}

func (r *running) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the clean-up
		return err
	case <-time.After(within):
		t.Fatal("the gate did not return")
		return nil
	}
}

func await(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(within):
		t.Fatalf("timed out waiting until %s", what)
	}
}

func gauge(t *testing.T) float64 {
	t.Helper()
	var m dto.Metric
	if err := leaderGauge.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func TestElectedRunsControllersAndReleasesAfterStoppingThem(t *testing.T) {
	b := memstore.New()
	defer b.Close()
	observer := b.Open()
	defer observer.Close()

	c := newFakeControllers()
	var heldAtStop atomic.Bool
	c.onStop = func() {
		ok, err := observer.Exists(context.Background(), lockKey, nil)
		heldAtStop.Store(err == nil && ok)
	}
	r := start(t, options(t, b, "a"), c)
	await(t, c.started, "the controllers start")

	if got := gauge(t); got != 1 {
		t.Errorf("kvmirror_leader = %v while leading, want 1", got)
	}
	identity, term := r.gate.Holder()
	if identity != "a" || term == 0 {
		t.Errorf("Holder() = %q, %d; want a and a term", identity, term)
	}
	pair, err := observer.Get(t.Context(), lockKey, nil)
	if err != nil || string(pair.Value) != "a" {
		t.Fatalf("lock key = %v, %v; want the identity a", pair, err)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Start after stop = %v, want nil", err)
	}
	await(t, c.stopped, "the controllers stop")
	if !heldAtStop.Load() {
		t.Error("the lock was released before the controllers stopped")
	}
	if ok, err := observer.Exists(t.Context(), lockKey, nil); err != nil || ok {
		t.Errorf("lock key exists = %v, %v after stop; want released", ok, err)
	}
	if got := gauge(t); got != 0 {
		t.Errorf("kvmirror_leader = %v after stop, want 0", got)
	}
	if _, term := r.gate.Holder(); term != 0 {
		t.Errorf("term %d after stop, want 0", term)
	}
}

func TestStopHandsOverAtOnce(t *testing.T) {
	b := memstore.New()
	defer b.Close()
	first, second := newFakeControllers(), newFakeControllers()
	a := start(t, options(t, b, "a"), first)
	await(t, first.started, "a leads")
	start(t, options(t, b, "b"), second)

	select {
	case <-second.started:
		t.Fatal("b runs its controllers while a leads")
	case <-time.After(300 * time.Millisecond):
	}
	stoppedAt := time.Now()
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	await(t, second.started, "b takes over")
	// The TTL is 1s: a takeover faster than that was a release, not an expiry.
	if took := time.Since(stoppedAt); took >= time.Second {
		t.Errorf("b took over %s after a stopped, want under the TTL", took)
	}
}

func TestDeposedWhenLockKeyDeleted(t *testing.T) {
	b := memstore.New()
	defer b.Close()
	observer := b.Open()
	defer observer.Close()
	c := newFakeControllers()
	r := start(t, options(t, b, "a"), c)
	await(t, c.started, "the controllers start")

	if err := observer.Delete(t.Context(), lockKey); err != nil {
		t.Fatal(err)
	}
	if err := r.result(t); !errors.Is(err, ErrDeposed) {
		t.Fatalf("Start = %v, want ErrDeposed", err)
	}
	await(t, c.stopped, "the controllers stop")
	if got := gauge(t); got != 0 {
		t.Errorf("kvmirror_leader = %v after deposition, want 0", got)
	}
}

func TestDeposedWhenStoreClosed(t *testing.T) {
	b := memstore.New()
	defer b.Close()
	o := options(t, b, "a")
	opened := make(chan kvstore.Store, 1)
	o.Open = func(context.Context, string, *kvstore.Config) (kvstore.Store, error) {
		s := b.Open()
		opened <- s
		return s, nil
	}
	c := newFakeControllers()
	r := start(t, o, c)
	await(t, c.started, "the controllers start")

	if err := (<-opened).Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.result(t); !errors.Is(err, ErrDeposed) {
		t.Fatalf("Start = %v, want ErrDeposed", err)
	}
	await(t, c.stopped, "the controllers stop")
}

func TestRetriesWhileStoreUnreachable(t *testing.T) {
	b := memstore.New()
	defer b.Close()
	o := options(t, b, "a")
	var attempts atomic.Int32
	transient := []error{kvstore.ErrUnreachable, context.DeadlineExceeded, kvstore.ErrUnreachable}
	o.Open = func(context.Context, string, *kvstore.Config) (kvstore.Store, error) {
		if n := int(attempts.Add(1)); n <= len(transient) {
			return nil, transient[n-1]
		}
		return b.Open(), nil
	}
	c := newFakeControllers()
	start(t, o, c)
	await(t, c.started, "the controllers start once the store answers")
	if n := attempts.Load(); n != int32(len(transient))+1 {
		t.Errorf("%d attempts to open the store, want %d", n, len(transient)+1)
	}
}

func TestStopWhileStoreUnreachable(t *testing.T) {
	o := options(t, memstore.New(), "a")
	o.Open = func(context.Context, string, *kvstore.Config) (kvstore.Store, error) {
		return nil, kvstore.ErrUnreachable
	}
	c := newFakeControllers()
	r := start(t, o, c)
	time.Sleep(100 * time.Millisecond)
	if err := r.stop(t); err != nil {
		t.Fatalf("Start = %v, want nil: a replica that never reached the store stops cleanly", err)
	}
	select {
	case <-c.started:
		t.Error("the controllers ran without the lock")
	default:
	}
}

func TestStoreThatRefusesFails(t *testing.T) {
	o := options(t, memstore.New(), "a")
	var attempts atomic.Int32
	o.Open = func(context.Context, string, *kvstore.Config) (kvstore.Store, error) {
		attempts.Add(1)
		return nil, kvstore.ErrPermissionDenied
	}
	r := start(t, o, newFakeControllers())
	if err := r.result(t); !errors.Is(err, kvstore.ErrPermissionDenied) {
		t.Fatalf("Start = %v, want the store's refusal", err)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d attempts, want 1: waiting cannot cure a refusal", n)
	}
}

func TestControllersFailingWhileLeading(t *testing.T) {
	b := memstore.New()
	defer b.Close()
	c := newFakeControllers()
	c.fail = errors.New("cache sync failed")
	r := start(t, options(t, b, "a"), c)
	if err := r.result(t); !errors.Is(err, c.fail) {
		t.Fatalf("Start = %v, want the controllers' error", err)
	}
}
