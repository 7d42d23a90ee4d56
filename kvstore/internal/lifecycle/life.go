package lifecycle

import (
	"context"
	"sync"
)

// Life is a Store's lifetime, from New to Close. Make it with New; it is safe for concurrent use.
type Life struct {
	// ctx is not a request context: it ends at End, and the contexts of the Store's calls and
	// goroutines derive from it (see Bind), so that End reaches all of them without a
	// goroutine per call.
	ctx    context.Context
	cancel context.CancelFunc

	// mu orders Track against End, so that no worker starts once End waits for them.
	mu      sync.Mutex
	workers sync.WaitGroup
}

// New returns a Life that has not ended.
func New() *Life {
	ctx, cancel := context.WithCancel(context.Background())
	return &Life{ctx: ctx, cancel: cancel}
}

// Context returns a context that ends at End, for goroutines that outlive the call that started
// them.
func (l *Life) Context() context.Context { return l.ctx }

// Ended reports whether End was called.
func (l *Life) Ended() bool { return l.ctx.Err() != nil }

// Track registers a worker (a call or a goroutine) that End must wait for, and reports false,
// registering nothing, once End was called. The worker calls Done when it ends.
func (l *Life) Track() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Ended() {
		return false
	}
	l.workers.Add(1)
	return true
}

// AddChild registers a worker that a tracked worker starts before it calls Done, even after
// End was called: End is still waiting for the parent then, so it waits for the child too. The
// child calls Done when it ends.
func (l *Life) AddChild() { l.workers.Add(1) }

// Done ends a worker registered by Track or AddChild.
func (l *Life) Done() { l.workers.Done() }

// Bind returns a context that ends with ctx or at End, whichever comes first. Its cancel
// function must be called when the work ends.
func (l *Life) Bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// End ends the Life: Ended reports true, Track refuses, Context and every bound context end.
// Then it waits for every registered worker to call Done. Calling it again only waits.
func (l *Life) End() {
	l.mu.Lock()
	l.cancel()
	l.mu.Unlock()
	l.workers.Wait()
}
