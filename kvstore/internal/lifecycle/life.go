package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Life is a Store's lifetime, from New to Close. Make it with New; it is safe for concurrent use.
type Life struct {
	// ctx is not a request context: it ends at End, with cause kvstore.ErrClosed, and the
	// contexts of the Store's calls and goroutines derive from it (see Bind), so that End
	// reaches all of them without a goroutine per call.
	ctx    context.Context
	cancel context.CancelCauseFunc

	// mu orders Track and Hold against End, so that no worker starts and nothing is held once
	// End waits for them.
	mu      sync.Mutex
	held    map[any]func() error // by key, see Hold
	workers sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// New returns a Life that has not ended.
func New() *Life {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Life{ctx: ctx, cancel: cancel, held: map[any]func() error{}}
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

// Bind returns a context that ends with ctx or at End, whichever comes first; at End its cause
// is kvstore.ErrClosed. Its cancel function must be called when the work ends.
func (l *Life) Bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(l.ctx, func() { cancel(kvstore.ErrClosed) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// Enter starts a call of the Store's: it returns kvstore.ErrClosed after End, and otherwise ctx
// bound to the Life (see Bind) and the function that ends the call, which End waits for.
func (l *Life) Enter(ctx context.Context) (context.Context, func(), error) {
	if !l.Track() {
		return nil, nil, kvstore.ErrClosed
	}
	ctx, cancel := l.Bind(ctx)
	return ctx, func() {
		cancel()
		l.Done()
	}, nil
}

// Go runs fn in a goroutine that End waits for, with ctx bound to the Life (see Bind): fn's
// context ends with ctx, at End, or when fn returns. After End it runs nothing and returns
// kvstore.ErrClosed. A goroutine that outlives its caller's context passes
// context.Background().
func (l *Life) Go(ctx context.Context, fn func(ctx context.Context)) error {
	if !l.Track() {
		return kvstore.ErrClosed
	}
	ctx, cancel := l.Bind(ctx)
	go func() {
		defer l.Done()
		defer cancel()
		fn(ctx)
	}()
	return nil
}

// Hold registers release under key (comparable: a pointer to the thing held), which End calls
// unless Drop(key) was called first: a lock or session the Store must give back when it closes.
// After End it registers nothing and returns kvstore.ErrClosed; the caller then releases the
// thing itself.
func (l *Life) Hold(key any, release func() error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Ended() {
		return kvstore.ErrClosed
	}
	l.held[key] = release
	return nil
}

// Drop unregisters what Hold registered under key, once it was released otherwise (Unlock).
// Dropping a key not held, or after End, does nothing.
func (l *Life) Drop(key any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.held, key)
}

// End ends the Life: Ended reports true, Track and Hold refuse, Context and every bound context
// end. Then it calls every held release, in parallel, and waits for every registered worker to
// call Done. It returns the releases' errors joined. Calling it again only waits, and returns
// nil.
func (l *Life) End() error {
	l.mu.Lock()
	l.cancel(kvstore.ErrClosed)
	held := l.held
	l.held = map[any]func() error{}
	l.mu.Unlock()

	errs := make([]error, 0, len(held))
	var mu sync.Mutex
	var releasing sync.WaitGroup
	for _, release := range held {
		releasing.Go(func() {
			if err := release(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	releasing.Wait()
	l.workers.Wait()
	return errors.Join(errs...)
}

// Close is a Store's Close: the first call runs End, then finish (nil: nothing), which closes
// what the workers used (a client, a connection, a file). Every call, concurrent ones included,
// returns once that is done, with the first call's errors joined.
func (l *Life) Close(finish func() error) error {
	l.closeOnce.Do(func() {
		err := l.End()
		if finish != nil {
			err = errors.Join(err, finish())
		}
		l.closeErr = err
	})
	return l.closeErr
}

// Normalize returns the canonical form of key (see kvstore.Normalize), or kvstore.ErrClosed
// wrapped with the backend's name after End.
func (l *Life) Normalize(backend, key string) (string, error) {
	if l.Ended() {
		return "", closedErr(backend)
	}
	return kvstore.Normalize(key)
}

// NormalizeDir is Normalize for a directory, where the root is allowed.
func (l *Life) NormalizeDir(backend, dir string) (string, error) {
	if l.Ended() {
		return "", closedErr(backend)
	}
	return kvstore.NormalizeDir(dir)
}

func closedErr(backend string) error {
	return fmt.Errorf("%s: %w", backend, kvstore.ErrClosed)
}
