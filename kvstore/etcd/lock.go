package etcd

import (
	"context"
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

// NewLock implements kvstore.Store. The Locker it returns takes the lock fairly: contenders get
// it in the order they asked (see doc.go for the algorithm).
func (s *Store) NewLock(_ context.Context, key string, opts *kvstore.LockOptions) (kvstore.Locker, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return nil, err
	}
	o, err := kvstore.CheckLock(opts)
	if err != nil {
		return nil, err
	}
	return &locker{s: s, key: canonical, opts: o}, nil
}

// errSessionEnded: the lease of a contender ended while it waited (its renewal was stopped, or
// someone revoked it), so its place in the queue is gone.
var errSessionEnded = errors.New("lease ended while waiting for the lock")

// locker is the kvstore.Locker of one key. A Locker is used by one goroutine at a time, so held
// needs no lock; the goroutines it starts talk to it through channels only.
type locker struct {
	s    *Store
	key  string
	opts kvstore.LockOptions
	held *hold
}

// hold is one holding of the lock, watched by a monitor goroutine until it is lost or released.
type hold struct {
	lost    chan struct{}
	release context.CancelFunc // asks the monitor to release the lock
	done    chan struct{}      // closes once the monitor revoked the lease
	// Set by the monitor before done closes.
	wasLost bool  // the lock was lost before a release was asked for
	err     error // from revoking the lease
}

// Lock implements kvstore.Locker: it queues a waiter key with a fresh lease, waits (watching,
// not polling) until every older waiter key is gone, then writes the lock key with the same lease.
func (l *locker) Lock(ctx context.Context) (<-chan struct{}, error) {
	if l.held != nil {
		select {
		case <-l.held.lost:
			l.held = nil
		default:
			return nil, fmt.Errorf("etcd lock %q: already held by this Locker", l.key)
		}
	}
	if !l.s.life.Track() {
		return nil, fmt.Errorf("etcd lock %q: %w", l.key, kvstore.ErrClosed)
	}
	defer l.s.life.Done()
	ctx, cancel := l.s.life.Bind(ctx)
	defer cancel()
	sess, err := l.s.newSession(ctx, l.key, l.opts.TTL, l.opts.RenewLock)
	if err != nil {
		return nil, err
	}
	holdRev, err := l.acquireIn(ctx, sess)
	if err != nil {
		// Revoking the lease takes our waiter key out of the queue at once.
		_ = sess.close()
		return nil, err
	}
	l.held = l.monitor(sess, holdRev)
	return l.held.lost, nil
}

// acquireIn runs acquire in a context that also ends with the session, so that no request or
// watch outlives the lease it waits for.
func (l *locker) acquireIn(ctx context.Context, sess *session) (int64, error) {
	sctx, cancel := sess.bind(ctx)
	defer cancel()
	holdRev, err := l.acquire(sctx, sess)
	if err != nil && ctx.Err() == nil && sess.alive.Err() != nil {
		err = fmt.Errorf("etcd lock %q: %w", l.key, errSessionEnded)
	}
	return holdRev, err
}

// acquire queues the waiter key, waits for its turn and takes the lock; it returns the revision
// of the lock key it wrote.
func (l *locker) acquire(ctx context.Context, sess *session) (int64, error) {
	me := l.s.keys.waiterKey(l.key, int64(sess.id))
	var put *clientv3.PutResponse
	err := l.s.call(ctx, "lock", l.key, func(ctx context.Context) (err error) {
		put, err = l.s.client.Put(ctx, me, "", clientv3.WithLease(sess.id))
		return err
	})
	if err != nil {
		return 0, err
	}
	myRev := put.Header.Revision
	for {
		ahead, rev, err := l.predecessor(ctx, myRev)
		if err != nil {
			return 0, err
		}
		if ahead == "" {
			return l.take(ctx, sess, me, myRev)
		}
		if err := l.waitGone(ctx, ahead, rev); err != nil {
			return 0, err
		}
	}
}

// predecessor returns the waiter key just ahead of ours (created last before it), or "" when
// ours is the oldest, and the revision of the read. Waiting for the one ahead only, not for the
// holder, wakes one contender per release instead of all of them.
func (l *locker) predecessor(ctx context.Context, myRev int64) (string, int64, error) {
	var resp *clientv3.GetResponse
	err := l.s.call(ctx, "lock", l.key, func(ctx context.Context) (err error) {
		resp, err = l.s.client.Get(ctx, l.s.keys.waiterPrefix(l.key), clientv3.WithPrefix(),
			clientv3.WithMaxCreateRev(myRev-1), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortDescend),
			clientv3.WithLimit(1), clientv3.WithKeysOnly())
		return err
	})
	if err != nil || len(resp.Kvs) == 0 {
		return "", 0, err
	}
	return string(resp.Kvs[0].Key), resp.Header.Revision, nil
}

// waitGone returns once key was deleted after rev, or when its watch ended: the caller reads
// the queue again in both cases.
func (l *locker) waitGone(ctx context.Context, key string, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range l.s.client.Watch(wctx, key, clientv3.WithRev(rev+1), clientv3.WithFilterPut()) {
		if resp.Err() != nil {
			break
		}
		if len(resp.Events) > 0 {
			return nil
		}
	}
	if ctx.Err() != nil {
		return l.s.wrapErr(ctx, "lock", l.key, ctx.Err())
	}
	// The watch could not start (no leader, say): read the queue again at a calm pace.
	retry.Sleep(ctx, minBackoff)
	return nil
}

// take writes the lock key, if our waiter key still exists: the session may have ended while
// we waited, and then the place in the queue is lost.
func (l *locker) take(ctx context.Context, sess *session, me string, myRev int64) (int64, error) {
	var resp *clientv3.TxnResponse
	err := l.s.call(ctx, "lock", l.key, func(ctx context.Context) (err error) {
		resp, err = l.s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(me), "=", myRev)).
			Then(clientv3.OpPut(l.s.keys.userKey(l.key), string(l.opts.Value), clientv3.WithLease(sess.id))).
			Commit()
		return err
	})
	if err != nil {
		return 0, err
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("etcd lock %q: %w", l.key, errSessionEnded)
	}
	return resp.Header.Revision, nil
}

// Unlock implements kvstore.Locker: it revokes the lease, which deletes the lock key and the
// waiter key in one step and so lets the next contender in.
func (l *locker) Unlock(ctx context.Context) error {
	if l.s.life.Ended() {
		return fmt.Errorf("etcd unlock %q: %w", l.key, kvstore.ErrClosed)
	}
	h := l.held
	l.held = nil
	if h == nil {
		return fmt.Errorf("etcd unlock %q: %w", l.key, kvstore.ErrNotLocked)
	}
	select {
	case <-h.lost:
		return fmt.Errorf("etcd unlock %q: lock was lost: %w", l.key, kvstore.ErrNotLocked)
	default:
	}
	h.release()
	select {
	case <-h.done:
	case <-ctx.Done():
		return l.s.wrapErr(ctx, "unlock", l.key, ctx.Err())
	}
	if h.wasLost {
		return fmt.Errorf("etcd unlock %q: lock was lost: %w", l.key, kvstore.ErrNotLocked)
	}
	return l.s.wrapErr(ctx, "unlock", l.key, h.err)
}

// monitor watches a held lock until it is lost or released, then closes its lost channel and
// revokes its lease. lost closes before the revocation, so that the holder learns of the loss
// before the next contender can take the lock.
func (l *locker) monitor(sess *session, holdRev int64) *hold {
	ctx, cancel := context.WithCancel(l.s.life.Context())
	h := &hold{lost: make(chan struct{}), release: cancel, done: make(chan struct{})}
	// The Lock call in progress is a worker, so the count is above zero and Close cannot have
	// finished waiting: adding is safe.
	l.s.life.AddChild()
	go func() {
		defer l.s.life.Done()
		defer close(h.done)
		defer cancel()
		h.wasLost = l.follow(ctx, sess, holdRev)
		close(h.lost)
		h.err = sess.close()
	}()
	return h
}

// follow reports true when the lock is lost, false when its release was asked for (ctx ended).
// The lock is lost when its session ends, and at any change of the lock key after holdRev: a
// deletion by anyone (Delete, DeleteTree) and also a write by someone else, after which the key
// no longer says who holds the lock.
func (l *locker) follow(ctx context.Context, sess *session, holdRev int64) bool {
	hctx, cancel := sess.bind(ctx)
	defer cancel()
	rev := holdRev
	for hctx.Err() == nil {
		if l.keyChanged(hctx, rev) {
			return true
		}
		var changed bool
		if rev, changed = l.recheck(hctx, holdRev); changed {
			return true
		}
	}
	return ctx.Err() == nil
}

// keyChanged watches the lock key after rev; it returns false when the watch ended without a
// change (ctx ended, or the watch broke).
func (l *locker) keyChanged(ctx context.Context, rev int64) bool {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for resp := range l.s.client.Watch(wctx, l.s.keys.userKey(l.key), clientv3.WithRev(rev+1)) {
		if resp.Err() != nil {
			return false
		}
		if len(resp.Events) > 0 {
			return true
		}
	}
	return false
}

// recheck reads the lock key after its watch broke, retrying until the server answers or ctx
// ends (the session's end bounds that). It returns the revision to watch from.
func (l *locker) recheck(ctx context.Context, holdRev int64) (rev int64, changed bool) {
	for {
		var resp *clientv3.GetResponse
		err := l.s.call(ctx, "lock", l.key, func(ctx context.Context) (err error) {
			resp, err = l.s.client.Get(ctx, l.s.keys.userKey(l.key))
			return err
		})
		if err == nil {
			if len(resp.Kvs) == 0 || resp.Kvs[0].ModRevision != holdRev {
				return 0, true
			}
			return resp.Header.Revision, false
		}
		if !retry.Sleep(ctx, minBackoff) {
			return 0, false
		}
	}
}
