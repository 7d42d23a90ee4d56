package consul

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

// NewLock returns a Locker on key. Each Lock creates a Consul session (TTL LockOptions.TTL/2,
// raised to the agent's session_ttl_min, lock-delay 1ms) renewed while the lock is wanted or
// held, and acquires key with it, the value being LockOptions.Value. The session deletes the key
// when it ends, so a lock leaves nothing behind.
func (s *Store) NewLock(ctx context.Context, key string, opts *kvstore.LockOptions) (kvstore.Locker, error) {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return nil, err
	}
	_, leave, err := s.life.Enter(ctx)
	if err != nil {
		return nil, err
	}
	leave()
	o, err := kvstore.CheckLock(opts)
	if err != nil {
		return nil, err
	}
	return &locker{s: s, key: key, opts: o}, nil
}

type locker struct {
	s    *Store
	key  string
	opts kvstore.LockOptions

	mu   sync.Mutex
	held *hold // the last acquisition; nil before the first and after Unlock
}

// hold is one acquisition of the lock.
type hold struct {
	sess *session
	lost chan struct{}
	once sync.Once
}

// end closes lost, once; it reports whether this call did.
func (h *hold) end() bool {
	first := false
	h.once.Do(func() {
		close(h.lost)
		first = true
	})
	return first
}

// Lock waits until key is free, acquires it, and returns the channel that closes when the lock
// is lost. Waiting is a blocking query on the key, woken by the holder's release at once. If the
// waiting session lapses (the agents were unreachable for its TTL), Lock starts over with a new
// one. When ctx ends, the session is destroyed and the error wraps ctx.Err().
func (l *locker) Lock(ctx context.Context) (<-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	wctx, leave, err := l.s.life.Enter(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("consul: lock %q: %w", l.key, ctx.Err())
	}
	if l.held != nil && !chans.Closed(l.held.lost) {
		return nil, fmt.Errorf("consul: lock %q: already held by this Locker", l.key)
	}
	pace := newRetrier(0)
	for first := true; ; first = false {
		sess, err := l.s.newSession(wctx, l.opts.TTL, l.opts.RenewLock)
		if err != nil && !first && pace.failed(wctx, err) {
			continue // the agents went away while this Locker waited: wait for them
		}
		if err != nil {
			return nil, fmt.Errorf("consul: lock %q: %w", l.key, err)
		}
		pace.succeeded()
		acquired, err := l.acquire(wctx, sess)
		if acquired {
			return l.hold(sess)
		}
		_ = sess.shutdown(context.WithoutCancel(ctx))
		if err != nil {
			return nil, fmt.Errorf("consul: lock %q: %w", l.key, err)
		}
	}
}

// hold records an acquisition and starts watching the key for its loss; after the monitor has
// closed the lost channel, it destroys the session (a lost lock's session may still hold the key
// if its renewals failed).
func (l *locker) hold(sess *session) (<-chan struct{}, error) {
	h := &hold{sess: sess, lost: make(chan struct{})}
	sess.beforeDestroy(func() { h.end() })
	err := l.s.life.Go(context.Background(), func(context.Context) {
		defer func() { _ = sess.shutdown(context.Background()) }()
		defer h.end()
		l.monitor(h)
	})
	if err != nil { // closed meanwhile; Close destroys the session
		return nil, fmt.Errorf("consul: lock %q: %w", l.key, err)
	}
	l.held = h
	return h.lost, nil
}

// acquire takes the key with sess, waiting while another session holds it. It returns false
// and no error when sess lapsed meanwhile.
func (l *locker) acquire(ctx context.Context, sess *session) (bool, error) {
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(sess.alive, cancel)()
	var wait blocking
	pace := newRetrier(0)
	delay := lockDelayBackoff{pace: retry.New(10*time.Millisecond, time.Second)}
	for {
		ok, err := l.tryAcquire(qctx, sess)
		if err == nil && !ok {
			ok, err = l.waitFree(qctx, sess, &wait, &delay)
		}
		switch {
		case ok:
			return true, nil
		case err == nil:
			pace.succeeded()
			continue
		case !errors.Is(err, errSessionGone) && pace.failed(qctx, err):
			continue
		}
		// Stopped: by the caller, by the session's end, or by an error that retrying won't heal.
		switch {
		case ctx.Err() != nil:
			return false, mapError(ctx, ctx.Err())
		case sess.alive.Err() != nil, errors.Is(err, errSessionGone):
			return false, nil
		}
		return false, err
	}
}

// tryAcquire attempts to take the key once. It is a transaction rather than Consul's
// ?acquire= write, whose URL could not hold every key (see readKey).
func (l *locker) tryAcquire(ctx context.Context, sess *session) (bool, error) {
	_, err := l.s.txn(ctx, api.KVTxnOps{
		{Verb: api.KVLock, Key: l.key, Value: nonNil(l.opts.Value), Session: sess.id, Flags: flagLock},
	})
	switch {
	case err == nil:
		return true, nil
	case failedForSession(err):
		return false, errSessionGone
	case failedOp(err) == 0: // held by another session, or under its lock-delay
		return false, nil
	}
	return false, err
}

// lockDelayBackoff paces the reads of a key that looked free last time yet was refused, which is
// another session's lock-delay: the state is then read again, without blocking, after a pause
// that grows from 10ms up to 1s.
type lockDelayBackoff struct {
	pace    *retry.Backoff
	pending bool // the key looked free last time yet was refused
}

// waitFree blocks until the key looks free (absent or unheld) and returns false, nil, to try
// again. It returns true if sess turns out to hold the key (an acquisition whose answer was
// lost). After a refusal of a key that looked free, it first pauses (see lockDelayBackoff).
func (l *locker) waitFree(ctx context.Context, sess *session, wait *blocking, delay *lockDelayBackoff) (bool, error) {
	if delay.pending {
		if !delay.pace.Wait(ctx) {
			return false, mapError(ctx, ctx.Err())
		}
		wait.index = 0
	}
	for {
		pair, err := l.read(ctx, wait)
		switch {
		case err != nil:
			return false, err
		case pair != nil && pair.Session == sess.id:
			return true, nil
		case pair == nil || pair.Session == "":
			delay.pending = true
			return false, nil
		}
		delay.pending = false
		delay.pace.Reset()
	}
}

// read runs one blocking query on the key.
func (l *locker) read(ctx context.Context, wait *blocking) (*api.KVPair, error) {
	actx, cancel := l.s.blockingAttempt(ctx, wait)
	defer cancel()
	pair, meta, err := l.s.readKey(l.key, wait.options(actx, false))
	if err != nil {
		return nil, mapError(actx, err)
	}
	wait.next(meta)
	return pair, nil
}

// monitor returns when the lock is lost: the key is gone or held by another session, or the
// session ended (lapsed, destroyed by Unlock or Close). Errors are retried for as long as the
// session is presumed alive; its renewal deadline ends the watch if the agents stay away.
func (l *locker) monitor(h *hold) {
	ctx := h.sess.alive
	var wait blocking
	pace := newRetrier(0)
	for {
		pair, err := l.read(ctx, &wait)
		if err != nil {
			if !pace.failed(ctx, err) {
				return
			}
			continue
		}
		pace.succeeded()
		if pair == nil || pair.Session != h.sess.id {
			return
		}
	}
}

// Unlock closes the lost channel, then destroys the session, which deletes the key in the same
// step and so wakes the waiters.
func (l *locker) Unlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, leave, err := l.s.life.Enter(ctx)
	if err != nil {
		return err
	}
	defer leave()
	h := l.held
	l.held = nil
	if h == nil {
		return fmt.Errorf("consul: unlock %q: %w", l.key, kvstore.ErrNotLocked)
	}
	held := h.end()
	// ctx, not the call's context bound to the Store: a concurrent Close must not cancel the
	// destroy that releases the key.
	err = h.sess.shutdown(ctx)
	if !held {
		return fmt.Errorf("consul: unlock %q: %w (it was lost)", l.key, kvstore.ErrNotLocked)
	}
	if err != nil {
		return fmt.Errorf("consul: unlock %q: %w", l.key, err)
	}
	return nil
}
