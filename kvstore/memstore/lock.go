package memstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

// locker is a lock on one key; the Backend's locks map says who holds each key.
type locker struct {
	s    *Store
	key  string
	opts kvstore.LockOptions
	lost chan struct{} // set while held; guarded by the Backend's mutex
}

// NewLock implements kvstore.Store.
func (s *Store) NewLock(ctx context.Context, key string, opts *kvstore.LockOptions) (kvstore.Locker, error) {
	key, err := s.normalize(ctx, key)
	if err != nil {
		return nil, err
	}
	o, err := kvstore.CheckLock(opts)
	if err != nil {
		return nil, err
	}
	return &locker{s: s, key: key, opts: o}, nil
}

// Lock implements kvstore.Locker: it waits on the Backend's change broadcast, so a release is
// seen at once, without polling.
func (l *locker) Lock(ctx context.Context) (<-chan struct{}, error) {
	b := l.s.b
	for {
		if l.s.life.Ended() {
			return nil, kvstore.ErrClosed
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("memstore: lock %q: %w", l.key, err)
		}
		b.mu.Lock()
		if b.locks[l.key] == l {
			b.mu.Unlock()
			return nil, errors.New("memstore: lock already held by this Locker")
		}
		if b.locks[l.key] == nil && !l.s.life.Ended() {
			lost := l.acquireLocked()
			b.mu.Unlock()
			return lost, nil
		}
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
		case <-l.s.life.Context().Done():
		}
	}
}

func (l *locker) acquireLocked() chan struct{} {
	b := l.s.b
	l.lost = make(chan struct{})
	b.locks[l.key] = l
	l.s.lockers[l] = struct{}{}
	b.setLocked(l.key, l.opts.Value, 0)
	if l.opts.RenewLock != nil {
		lost := l.lost
		// Refused only once Close has begun; its release, waiting for b.mu, drops the lock.
		_ = l.s.life.Go(context.Background(), func(context.Context) { l.expireAfterRenewal(lost) })
	}
	return l.lost
}

// expireAfterRenewal plays a server-side TTL: once renewal stops, the lock lasts TTL more.
func (l *locker) expireAfterRenewal(lost chan struct{}) {
	select {
	case <-l.opts.RenewLock:
	case <-lost:
		return
	}
	timer := time.NewTimer(l.opts.TTL)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-lost:
		return
	}
	b := l.s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.locks[l.key] == l && l.lost == lost {
		b.dropLocked(l)
	}
}

// Unlock implements kvstore.Locker.
func (l *locker) Unlock(ctx context.Context) error {
	if l.s.life.Ended() {
		return kvstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: unlock %q: %w", l.key, err)
	}
	b := l.s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.locks[l.key] != l {
		return fmt.Errorf("%w: %q", kvstore.ErrNotLocked, l.key)
	}
	b.dropLocked(l)
	return nil
}

// dropLocked ends l's hold: the lock key goes (which releases it through removeLocked), or, if
// someone already deleted the key, the lock is released directly.
func (b *Backend) dropLocked(l *locker) {
	if b.data[l.key] != nil {
		b.removeLocked(l.key)
		return
	}
	b.releaseLocked(l)
	b.notifyLocked()
}

// releaseLocked frees the lock and closes its lost channel; the map entry guarantees once.
func (b *Backend) releaseLocked(l *locker) {
	if b.locks[l.key] != l {
		return
	}
	delete(b.locks, l.key)
	delete(l.s.lockers, l)
	close(l.lost)
}
