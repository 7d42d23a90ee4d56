package boltdb

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

// A lock lives in the file, so it excludes every Store of every process on the file: the lock
// key holds LockOptions.Value with the lock's deadline as its TTL, and the bucket's lock table
// (outside the user bucket, so List never shows it) names the holder and the same deadline. A
// holder renews both every TTL/3 without a new index; a lock whose deadline has passed is free,
// whoever left it. Any other write to the key (Put, Delete, DeleteTree, expiry) removes the
// lock-table entry in the same transaction, so the lock is lost the moment its value is.
//
// Waiters and holders subscribe to the key's events, so an Unlock, an expiry or a takeover in
// this process wakes them at once; changes made by other processes are seen by the next look,
// at most a second later (and a waiter looks again when the holder's deadline passes).

// NewLock returns a Locker for key; see kvstore.Store.
func (s *Store) NewLock(_ context.Context, key string, opts *kvstore.LockOptions) (kvstore.Locker, error) {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return nil, err
	}
	o, err := kvstore.CheckLock(opts)
	if err != nil {
		return nil, err
	}
	if !s.life.Track() {
		return nil, kvstore.ErrClosed
	}
	defer s.life.Done()
	return &locker{s: s, key: key, opts: o}, nil
}

type locker struct {
	s    *Store
	key  string
	opts kvstore.LockOptions

	mu   sync.Mutex
	held *holding // nil unless the lock is held
}

// holding is one tenure of a lock, from acquisition to loss or release.
type holding struct {
	l        *locker
	id       holderID
	lost     chan struct{}
	lostOnce sync.Once
	cancel   context.CancelFunc // stops keep
	done     chan struct{}      // closed when keep has returned

	mu       sync.Mutex
	released bool
}

// Lock takes the lock; see kvstore.Locker.
func (l *locker) Lock(ctx context.Context) (<-chan struct{}, error) {
	if !l.s.life.Track() {
		return nil, kvstore.ErrClosed
	}
	defer l.s.life.Done()
	if l.current() != nil {
		return nil, fmt.Errorf("boltdb: lock %q is already held by this Locker", l.key)
	}
	// Subscribe before the first try, so no Unlock can slip between a failed try and the wait.
	sub := l.s.f.subscribe(func(e *event) bool { return e.bucket == l.s.bucket && e.key == l.key })
	var id holderID
	_, _ = rand.Read(id[:])
	for {
		acquired, index, until, err := l.try(ctx, id)
		if err != nil {
			sub.cancel()
			return nil, err
		}
		if acquired {
			return l.hold(id, index, until, sub)
		}
		if err := l.waitTurn(ctx, sub, until); err != nil {
			sub.cancel()
			return nil, err
		}
	}
}

// try takes the lock if it is free or its holder's deadline has passed. It returns the index of
// the lock value it wrote, or the current holder's deadline.
func (l *locker) try(ctx context.Context, id holderID) (acquired bool, index uint64, until time.Time, err error) {
	// Look before writing: every waiter wakes at each change of the key, and a bolt write
	// transaction costs two fsyncs even when it changes nothing.
	err = l.s.f.view(ctx, l.s.timeout, l.s.bucket, func(t *txn) error {
		cur, held, err := t.lock(l.key)
		if held {
			until = cur.deadline
		}
		return err
	})
	if err != nil || !until.IsZero() {
		return false, 0, until, err
	}
	err = l.s.f.update(ctx, l.s.timeout, l.s.bucket, func(t *txn) error {
		if cur, held, err := t.lock(l.key); err != nil || held {
			until = cur.deadline
			return err
		}
		deadline := t.now.Add(l.opts.TTL)
		pair, err := t.put(l.key, l.opts.Value, deadline)
		if err != nil {
			return err
		}
		acquired, index, until = true, pair.LastIndex, deadline
		return t.locks.Put([]byte(l.key), encodeLock(lockRecord{holder: id, deadline: deadline}))
	})
	return acquired, index, until, err
}

// waitTurn waits for a change to the key, for the holder's deadline, or for the next look at
// what other processes did.
func (l *locker) waitTurn(ctx context.Context, sub *subscription, until time.Time) error {
	timer := time.NewTimer(min(max(time.Until(until), time.Millisecond), foreignPoll))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("boltdb: waiting for lock %q: %w", l.key, ctx.Err())
	case <-l.s.life.Context().Done():
		return kvstore.ErrClosed
	case <-sub.ready:
		sub.take()
	case <-timer.C:
	}
	return nil
}

// hold records the tenure and starts its keeper. A Store closed meanwhile gets its lock back at
// once: Close has already released the locks it knew of.
func (l *locker) hold(id holderID, index uint64, deadline time.Time, sub *subscription) (<-chan struct{}, error) {
	ctx, cancel := context.WithCancel(context.Background())
	h := &holding{l: l, id: id, lost: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	if err := l.s.life.Hold(h, h.releaseAtClose); err != nil {
		cancel()
		sub.cancel()
		close(h.done)
		_ = h.release(context.Background())
		return nil, err
	}

	l.mu.Lock()
	l.held = h
	l.mu.Unlock()
	err := l.s.life.Go(context.Background(), func(context.Context) {
		defer close(h.done)
		defer sub.cancel()
		h.keep(ctx, sub, index, deadline)
	})
	if err != nil { // closed meanwhile: Close releases the lock it holds once done is closed
		cancel()
		sub.cancel()
		close(h.done)
		return nil, err
	}
	return h.lost, nil
}

func (l *locker) current() *holding {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// Unlock releases the lock; see kvstore.Locker.
func (l *locker) Unlock(ctx context.Context) error {
	h := l.current()
	if h == nil {
		if l.s.life.Ended() {
			return kvstore.ErrClosed
		}
		return fmt.Errorf("%w: %q", kvstore.ErrNotLocked, l.key)
	}
	return h.release(ctx)
}

// releaseAtClose is release for Close, to which a tenure that ended already is no error.
func (h *holding) releaseAtClose() error {
	if err := h.release(context.Background()); err != nil && !errors.Is(err, kvstore.ErrNotLocked) {
		return err
	}
	return nil
}

// release stops the keeper, removes the lock from the file if this tenure still holds it, and
// closes the lost channel. Unlock and Close may both call it; the second gets ErrNotLocked.
func (h *holding) release(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	notLocked := fmt.Errorf("%w: %q", kvstore.ErrNotLocked, h.l.key)
	if h.released {
		return notLocked
	}
	h.released = true
	h.cancel()
	<-h.done
	defer h.lose()
	if h.isLost() {
		return notLocked
	}
	held := false
	err := h.l.s.f.update(ctx, h.l.s.timeout, h.l.s.bucket, func(t *txn) error {
		var err error
		held, err = h.holds(t)
		if err != nil || !held {
			return err
		}
		r, _, err := t.raw(h.l.key)
		if err != nil {
			return err
		}
		return t.drop(h.l.key, r)
	})
	if err == nil && !held {
		return notLocked
	}
	return err
}

// lose closes the lost channel, once, and forgets the tenure.
func (h *holding) lose() {
	h.lostOnce.Do(func() {
		// Forget first: whoever sees the channel closed may call Lock again at once.
		defer close(h.lost)
		h.l.s.life.Drop(h)
		h.l.mu.Lock()
		if h.l.held == h {
			h.l.held = nil
		}
		h.l.mu.Unlock()
	})
}

func (h *holding) isLost() bool {
	select {
	case <-h.lost:
		return true
	default:
		return false
	}
}

// keep renews the tenure until RenewLock closes and watches for its loss: another write to the
// key, a holder change seen after another process wrote, or the deadline passing unrenewed. It
// returns when ctx ends (release then finishes the job) or after closing the lost channel.
func (h *holding) keep(ctx context.Context, sub *subscription, index uint64, deadline time.Time) {
	renew := h.l.opts.RenewLock
	ticker := time.NewTicker(max(h.l.opts.TTL/3, time.Millisecond))
	defer ticker.Stop()
	tick := ticker.C
	expiry := time.NewTimer(time.Until(deadline))
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew:
			renew, tick = nil, nil
		case <-tick:
			next, err := h.renew(ctx)
			if errors.Is(err, kvstore.ErrNotLocked) {
				h.lose()
				return
			}
			// A failed renewal (the file busy past the timeout) is retried on the next tick;
			// the expiry timer still declares the lock lost if none succeeds in time.
			if err == nil {
				expiry.Reset(time.Until(next))
			}
		case <-sub.ready:
			if h.taken(ctx, sub.take(), index) {
				h.lose()
				return
			}
		case <-expiry.C:
			h.lose()
			return
		}
	}
}

// renew moves the tenure's deadline one TTL ahead, or returns ErrNotLocked if it was lost.
func (h *holding) renew(ctx context.Context) (time.Time, error) {
	var deadline time.Time
	err := h.l.s.f.update(ctx, h.l.s.timeout, h.l.s.bucket, func(t *txn) error {
		held, err := h.holds(t)
		if err != nil {
			return err
		}
		if !held {
			return kvstore.ErrNotLocked
		}
		r, _, err := t.raw(h.l.key)
		if err != nil {
			return err
		}
		deadline = t.now.Add(h.l.opts.TTL)
		if err := t.extend(h.l.key, r, deadline); err != nil {
			return err
		}
		return t.locks.Put([]byte(h.l.key), encodeLock(lockRecord{holder: h.id, deadline: deadline}))
	})
	return deadline, err
}

// taken reports whether events show the tenure lost: any change of the key after the write
// that took the lock (renewals make none), or, after another process wrote, a lock table that
// no longer names this holder.
func (h *holding) taken(ctx context.Context, events []event, index uint64) bool {
	for _, e := range events {
		if !e.resync && e.index > index {
			return true
		}
		if e.resync {
			held := true
			err := h.l.s.f.view(ctx, h.l.s.timeout, h.l.s.bucket, func(t *txn) error {
				var err error
				held, err = h.holds(t)
				return err
			})
			if err == nil && !held {
				return true
			}
		}
	}
	return false
}

// holds reports whether the lock table names this tenure's holder with a deadline still ahead.
func (h *holding) holds(t *txn) (bool, error) {
	cur, held, err := t.lock(h.l.key)
	return held && cur.holder == h.id, err
}

// lock returns key's lock record, and whether it is held: present and before its deadline.
func (t *txn) lock(key string) (lockRecord, bool, error) {
	b := t.locks.Get([]byte(key))
	if b == nil {
		return lockRecord{}, false, nil
	}
	l, err := decodeLock(b)
	if err != nil {
		return l, false, err
	}
	return l, t.now.Before(l.deadline), nil
}
