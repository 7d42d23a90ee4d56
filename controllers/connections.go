package controllers

import (
	"context"
	"errors"
	"sync"

	"github.com/kvmirror/kvmirror/kvstore"
)

// OpenFunc opens a Store; kvstore.Open is the one the operator uses, tests may wrap it.
type OpenFunc func(ctx context.Context, backend string, endpoints []string, cfg *kvstore.Config) (kvstore.Store, error)

// pool shares Stores between mirrors that use the same backend configuration. A connection is
// keyed by backendConfig.key, which covers the Secret contents, so a rotated Secret gives a new
// key: the next reconcile opens a new Store with the new material, and the old one closes when
// its last lease is released. Stores are reference counted through leases and closed when the
// last lease goes.
type pool struct {
	open OpenFunc

	mu     sync.Mutex
	conns  map[string]*conn
	closed bool
}

// conn is one shared Store. ready is closed once opening ended; store and err are set before.
type conn struct {
	key   string
	label string
	ready chan struct{}
	store kvstore.Store
	err   error
	refs  int
	// closed is set when closeAll closed the Store under leases that are still out.
	closed bool
}

// lease is one user's hold on a shared Store. Release is idempotent.
type lease struct {
	p    *pool
	c    *conn
	once sync.Once
}

var errPoolClosed = errors.New("kvmirror: connection pool closed")

func newPool(open OpenFunc) *pool {
	return &pool{open: open, conns: map[string]*conn{}}
}

// acquire returns a lease on the Store for cfg, opening it if no one holds one. Opening happens
// outside the pool's lock, so a backend that is slow to answer delays only the mirrors that use
// it; concurrent callers for the same key wait for one opening attempt and share its result.
// ctx bounds the wait and the opening.
func (p *pool) acquire(ctx context.Context, cfg *backendConfig) (*lease, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, errPoolClosed
	}
	c, ok := p.conns[cfg.key]
	if !ok {
		c = &conn{key: cfg.key, label: cfg.label, ready: make(chan struct{}), refs: 1}
		p.conns[cfg.key] = c
		p.mu.Unlock()
		return p.openConn(ctx, c, cfg)
	}
	c.refs++
	p.mu.Unlock()

	select {
	case <-c.ready:
	case <-ctx.Done():
		p.release(c)
		return nil, ctx.Err()
	}
	if c.err != nil {
		// The attempt we waited for failed and its conn has left the map, so the next
		// reconcile opens afresh; its error is the backend's, ours to report too.
		p.release(c)
		return nil, c.err
	}
	return &lease{p: p, c: c}, nil
}

func (p *pool) openConn(ctx context.Context, c *conn, cfg *backendConfig) (*lease, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.store.Timeout())
	defer cancel()
	store, err := p.open(ctx, cfg.backend, cfg.endpoints, &cfg.store)

	p.mu.Lock()
	c.store, c.err = store, err
	if err != nil {
		delete(p.conns, c.key)
	}
	p.mu.Unlock()
	close(c.ready)
	if err != nil {
		p.release(c)
		return nil, err
	}
	return &lease{p: p, c: c}, nil
}

// release drops one reference to c and closes its Store when it was the last.
func (p *pool) release(c *conn) {
	p.mu.Lock()
	c.refs--
	if c.refs > 0 || c.store == nil || c.closed {
		p.mu.Unlock()
		return
	}
	if p.conns[c.key] == c {
		delete(p.conns, c.key)
	}
	p.mu.Unlock()

	// A Store's Close waits for its watches to end; it runs outside the lock so other mirrors
	// are not held up by it.
	_ = c.store.Close()
}

// closeAll refuses new leases and closes every Store still open. By the time the controller
// calls it, every watch has ended and no reconcile runs, so there should be none: this only
// keeps a leaked lease from leaking a Store's goroutines too.
func (p *pool) closeAll() {
	p.mu.Lock()
	p.closed = true
	var open []kvstore.Store
	for key, c := range p.conns {
		if c.store != nil {
			open = append(open, c.store)
			c.closed = true
		}
		delete(p.conns, key)
	}
	p.mu.Unlock()
	for _, s := range open {
		_ = s.Close()
	}
}

// size returns the number of open or opening Stores; for tests.
func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// refs returns the number of leases on the Store of key (0 if none is open); for tests.
func (p *pool) refs(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[key]; ok {
		return c.refs
	}
	return 0
}

// Store returns the leased Store.
func (l *lease) Store() kvstore.Store { return l.c.store }

// retain returns a second, independent lease on the same Store.
func (l *lease) retain() *lease {
	l.p.mu.Lock()
	l.c.refs++
	l.p.mu.Unlock()
	return &lease{p: l.p, c: l.c}
}

// Release gives the lease back; the Store closes when no lease on it is left.
func (l *lease) Release() {
	l.once.Do(func() { l.p.release(l.c) })
}
