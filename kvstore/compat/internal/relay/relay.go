package relay

import (
	"context"
	"fmt"
	"sync"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Group owns the goroutines of one adapter. The zero value is not usable; call NewGroup.
type Group struct {
	mu     sync.Mutex
	done   bool
	closed chan struct{} // closed by Close: every goroutine of the Group returns
	wg     sync.WaitGroup
}

// NewGroup returns an open Group.
func NewGroup() *Group { return &Group{closed: make(chan struct{})} }

// Close ends every goroutine of the Group and waits for them. It is idempotent; after it, Forward
// and Bind return an error wrapping kvstore.ErrClosed.
func (g *Group) Close() {
	g.mu.Lock()
	if !g.done {
		g.done = true
		close(g.closed)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

// start runs f in a goroutine of the Group, unless the Group is closed: the check and the Add
// are under one lock so that no goroutine starts once Close has begun to wait.
func (g *Group) start(f func()) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return fmt.Errorf("kvstore compat: %w", kvstore.ErrClosed)
	}
	g.wg.Go(f)
	return nil
}

// Forward sends each element received from in, converted by conv, on the returned channel, until
// in closes, stop fires (a receive or a close) or the Group closes. It then calls cancel, which
// must end the watch that feeds in, and closes the returned channel. A send waits for the
// receiver, as kvstore's watches do. If the Group is closed, Forward calls cancel and fails.
func Forward[A, B any](g *Group, stop <-chan struct{}, in <-chan A, cancel context.CancelFunc, conv func(A) B) (<-chan B, error) {
	out := make(chan B)
	err := g.start(func() {
		defer close(out)
		defer cancel()
		for {
			var a A
			var ok bool
			select {
			case a, ok = <-in:
				if !ok {
					return
				}
			case <-stop:
				return
			case <-g.closed:
				return
			}
			select {
			case out <- conv(a):
			case <-stop:
				return
			case <-g.closed:
				return
			}
		}
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return out, nil
}

// Bind returns a context that ends when stop fires (a receive or a close) or the Group closes,
// and a release function that ends it and waits for the goroutine that watches stop. The caller
// must call release. A nil stop never fires.
func (g *Group) Bind(stop <-chan struct{}) (context.Context, func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	err := g.start(func() {
		defer close(watched)
		defer cancel()
		select {
		case <-stop:
		case <-g.closed:
		case <-ctx.Done():
		}
	})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return ctx, func() { cancel(); <-watched }, nil
}
