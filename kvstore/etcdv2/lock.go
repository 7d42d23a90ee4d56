package etcdv2

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
)

// NewLock implements kvstore.Store. The v2 API has no sessions or leases, so a lock is built from
// TTL'd nodes that the holder refreshes:
//
//   - Lock queues up with an in-order node (etcd names it by its index) in the lock's queue
//     directory under the hidden /_kvmirror/locks, refreshed every TTL/3 while it waits, and
//     watches only the node just before its own: a release wakes one waiter, at once, with no
//     polling.
//   - First in the queue, it writes the lock key itself with LockOptions.Value and the same
//     TTL, so that Get(key) returns the value, and a keeper goroutine refreshes both nodes
//     without changing them (etcd's refresh writes no event).
//   - The lock is lost, and the lost channel closed, when a refresh finds a node gone or
//     changed, when a watch sees one deleted, when the TTL has run out since the last
//     successful refresh (the lost channel closes before etcd can let another waiter in), on
//     Close and on Unlock. A lost or released lock deletes its nodes so that the next waiter
//     goes ahead without waiting for the TTL.
//
// The TTL is rounded up to whole seconds, the v2 API's unit (so at least one second). A held
// lock's key gets a new LastIndex with every refresh, as etcd v2 cannot extend a TTL otherwise;
// its value does not change and no watch event is sent.
func (s *Store) NewLock(_ context.Context, key string, opts *kvstore.LockOptions) (kvstore.Locker, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return nil, err
	}
	o, err := kvstore.CheckLock(opts)
	if err != nil {
		return nil, err
	}
	// The rounded TTL is what etcd applies, so the holder's own deadline can use it too: etcd
	// expires a node no earlier than that long after a refresh was sent.
	o.TTL = seconds(o.TTL)
	return &locker{s: s, key: canonical, opts: o}, nil
}

type locker struct {
	s    *Store
	key  string // canonical
	opts kvstore.LockOptions

	// mu serialises Lock and Unlock: a Locker is used by one goroutine at a time, and a second
	// one would wait rather than take the lock twice.
	mu   sync.Mutex
	held *keeper // the last acquisition, until Unlock; its lost channel tells whether it is over
}

// errQueueLost: the lock's queue node vanished while Lock waited (it expired because its
// refreshes failed, or someone deleted it).
var errQueueLost = errors.New("etcdv2: lock queue entry disappeared while waiting")

// Lock implements kvstore.Locker.
func (l *locker) Lock(ctx context.Context) (<-chan struct{}, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held != nil && !chans.Closed(l.held.lost) {
		return nil, fmt.Errorf("etcdv2 lock %q: already held by this Locker", l.key)
	}
	if !l.s.life.Track() {
		return nil, l.s.wrapErr(ctx, "lock", l.key, kvstore.ErrClosed)
	}
	defer l.s.life.Done()
	bound, cancel := l.s.life.Bind(ctx)
	defer cancel()
	k, err := l.acquire(bound)
	if err != nil {
		return nil, l.s.wrapErr(ctx, "lock", l.key, err)
	}
	l.held = k
	return k.lost, nil
}

// acquire queues up, waits for its turn and writes the lock key; on failure it leaves nothing
// behind in the queue.
func (l *locker) acquire(ctx context.Context) (*keeper, error) {
	since := time.Now()
	resp, err := request(ctx, l.s.timeout, func(ctx context.Context) (*client.Response, error) {
		return l.s.keys.CreateInOrder(ctx, queuePath(l.key), encodeValue(l.opts.Value), &client.CreateInOrderOptions{TTL: seconds(l.opts.TTL)})
	})
	if err != nil {
		return nil, err
	}
	k := &keeper{s: l.s, leaf: leafPath(l.key), queue: queuePath(l.key), node: resp.Node.Key, ttl: l.opts.TTL}
	since, err = l.wait(ctx, k, since)
	if err == nil {
		var resp *client.Response
		resp, err = request(ctx, l.s.timeout, func(ctx context.Context) (*client.Response, error) {
			// Written as Put writes it: a key that is a plain v2 file is held in place.
			resp, _, err := l.s.setValue(ctx, l.key, encodeValue(l.opts.Value), seconds(l.opts.TTL))
			return resp, err
		})
		if err == nil {
			// The file written, which the keeper refreshes, watches and deletes.
			k.leaf, k.index = resp.Node.Key, resp.Node.ModifiedIndex
			if err = k.start(since, l.opts.RenewLock); err == nil {
				return k, nil
			}
		}
	}
	cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.s.timeout)
	defer cancel()
	if k.index != 0 {
		_ = k.deleteKey(cleanup)
	}
	_ = k.deleteNode(cleanup)
	return nil, err
}

// wait returns once k's queue node is first in the queue. It refreshes the node meanwhile and
// returns the time the last successful refresh was sent, from which the node's TTL runs.
func (l *locker) wait(ctx context.Context, k *keeper, since time.Time) (time.Time, error) {
	tick := time.NewTicker(refreshPeriod(l.opts.TTL))
	defer tick.Stop()
	pace := l.s.newBackoff()
	for {
		before, index, err := k.predecessor(ctx)
		if err == nil && before == "" {
			return since, nil
		}
		if err == nil {
			err = k.awaitGone(ctx, before, index, tick.C, &since)
		}
		switch {
		case err == nil:
			pace.Reset()
		case ctx.Err() != nil:
			return since, ctx.Err()
		case errors.Is(err, errQueueLost) || !transient(err):
			return since, err
		case !pace.Wait(ctx):
			return since, err
		}
	}
}

// transient reports whether err may go away by retrying: the server could not be reached.
func transient(err error) bool {
	kind, _ := classify(err)
	return errors.Is(kind, kvstore.ErrUnreachable) || historyCleared(err)
}

// predecessor returns the queue node just before k's, "" when k's is first, and etcd's index at
// the time of the read. The read is a quorum read: a lagging member could show the queue
// without k's node, or with nodes already gone.
func (k *keeper) predecessor(ctx context.Context) (string, uint64, error) {
	resp, err := request(ctx, k.s.timeout, func(ctx context.Context) (*client.Response, error) {
		return k.s.keys.Get(ctx, k.queue, &client.GetOptions{Sort: true, Quorum: true})
	})
	if isCode(err, client.ErrorCodeKeyNotFound) {
		return "", 0, errQueueLost
	}
	if err != nil {
		return "", 0, err
	}
	for i, node := range resp.Node.Nodes {
		if node.Key == k.node {
			if i == 0 {
				return "", resp.Index, nil
			}
			return resp.Node.Nodes[i-1].Key, resp.Index, nil
		}
	}
	return "", 0, errQueueLost
}

// awaitGone returns when the queue node before is deleted or expires (or etcd lost the events
// that would say so), refreshing k's own node on every tick meanwhile.
func (k *keeper) awaitGone(ctx context.Context, before string, index uint64, tick <-chan time.Time, since *time.Time) error {
	watchCtx, cancel := context.WithCancel(ctx)
	var watch sync.WaitGroup
	defer watch.Wait()
	defer cancel()
	gone := make(chan error, 1)
	watch.Go(func() { gone <- k.s.awaitDelete(watchCtx, before, index) })
	for {
		select {
		case err := <-gone:
			if historyCleared(err) {
				return nil
			}
			return err
		case <-tick:
			sent := time.Now()
			err := k.refreshNode(ctx)
			if isCode(err, client.ErrorCodeKeyNotFound) {
				return errQueueLost
			}
			if err == nil {
				*since = sent
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// awaitDelete follows node from index until it is deleted or expires.
func (s *Store) awaitDelete(ctx context.Context, node string, index uint64) error {
	watcher := s.keys.Watcher(node, &client.WatcherOptions{AfterIndex: index})
	for {
		resp, err := s.next(ctx, watcher)
		if err != nil {
			return err
		}
		if removal(resp, node) {
			return nil
		}
	}
}

// Unlock implements kvstore.Locker.
func (l *locker) Unlock(ctx context.Context) error {
	l.mu.Lock()
	k := l.held
	l.held = nil
	l.mu.Unlock()
	if k == nil {
		if l.s.life.Ended() {
			return l.s.wrapErr(ctx, "unlock", l.key, kvstore.ErrClosed)
		}
		return fmt.Errorf("etcdv2 unlock %q: %w", l.key, kvstore.ErrNotLocked)
	}
	reply := make(chan error, 1)
	select {
	case k.unlock <- unlockRequest{ctx: ctx, reply: reply}:
		return l.s.wrapErr(ctx, "unlock", l.key, <-reply)
	case <-k.done:
		// The keeper ended first: the lock was lost, or released by Close.
		return fmt.Errorf("etcdv2 unlock %q: %w", l.key, kvstore.ErrNotLocked)
	}
}

// request runs one request bounded by timeout as well as by ctx: waiting may last, each request
// may not.
func request(ctx context.Context, timeout time.Duration, do func(ctx context.Context) (*client.Response, error)) (*client.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return do(ctx)
}

// refreshPeriod is how often a lock's nodes are refreshed: three times per TTL (a second at
// least), so that two refreshes in a row may fail before the lock is lost.
func refreshPeriod(ttl time.Duration) time.Duration {
	return ttl / 3
}
