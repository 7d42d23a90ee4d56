package etcdv2

import (
	"context"
	"sync"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

// keeper holds one acquisition of a lock: it refreshes the queue node and the lock key, watches
// them, and closes lost exactly once, when the lock is lost or released. Only its goroutine
// closes lost and changes index once started.
type keeper struct {
	s     *Store
	leaf  string // the file that holds the lock key: its value file, or its plain file
	queue string // the lock's queue directory
	node  string // this acquisition's queue node
	ttl   time.Duration
	index uint64 // the lock key's ModifiedIndex: every refresh changes it

	lost   chan struct{}
	done   chan struct{} // closed when the keeper's goroutine has ended
	unlock chan unlockRequest
}

type unlockRequest struct {
	ctx   context.Context
	reply chan<- error
}

// start runs the keeper as a worker of the Store, with since the time from which the nodes'
// TTL runs.
func (k *keeper) start(since time.Time, renew <-chan struct{}) error {
	k.lost, k.done, k.unlock = make(chan struct{}), make(chan struct{}), make(chan unlockRequest)
	// The keeper outlives the Lock call: only Close, not the caller's context, may end it.
	return k.s.spawn(context.Background(), "lock", k.leaf, func(ctx context.Context) {
		defer close(k.done)
		k.run(ctx, since, renew)
	})
}

func (k *keeper) run(ctx context.Context, since time.Time, renew <-chan struct{}) {
	watchCtx, stopWatches := context.WithCancel(ctx)
	removed := make(chan struct{}, 2)
	var watches sync.WaitGroup
	// Both watches start after the lock key was written: nothing before it is of interest.
	from := k.index
	for _, node := range []string{k.leaf, k.node} {
		watches.Go(func() {
			if k.s.watchRemoval(watchCtx, node, from) {
				removed <- struct{}{}
			}
		})
	}
	defer watches.Wait()
	defer stopWatches()

	// deadline is when etcd may expire the nodes (TTL after the last refresh was sent): the lock
	// is lost then at the latest, whether or not etcd could be told anything.
	deadline := since.Add(k.ttl)
	expiry := time.NewTimer(time.Until(deadline))
	defer expiry.Stop()
	tick := time.NewTicker(refreshPeriod(k.ttl))
	defer tick.Stop()
	refresh := tick.C
	for {
		select {
		case req := <-k.unlock:
			req.reply <- k.release(req.ctx)
			return
		case <-ctx.Done():
			// Close: release the lock so that waiters elsewhere go ahead now.
			cleanup, cancel := context.WithTimeout(context.Background(), k.s.timeout)
			_ = k.release(cleanup)
			cancel()
			return
		case <-removed:
			k.lose()
			return
		case <-expiry.C:
			k.lose()
			return
		case <-renew:
			renew, refresh = nil, nil
		case <-refresh:
			sent := time.Now()
			// A refresh that outlasts the deadline is of no use: the lock is lost by then.
			refreshCtx, cancel := context.WithDeadline(ctx, deadline)
			err := k.refresh(refreshCtx)
			cancel()
			switch {
			case err == nil:
				deadline = sent.Add(k.ttl)
				expiry.Reset(time.Until(deadline))
			case isCode(err, client.ErrorCodeKeyNotFound), isCode(err, client.ErrorCodeTestFailed),
				!time.Now().Before(deadline):
				k.lose()
				return
			}
		}
	}
}

// refresh renews the TTL of both nodes without changing them. The lock key's refresh compares
// its index, so that a value written by someone else is never kept alive.
func (k *keeper) refresh(ctx context.Context) error {
	if err := k.refreshNode(ctx); err != nil {
		return err
	}
	resp, err := request(ctx, k.s.timeout, func(ctx context.Context) (*client.Response, error) {
		return k.s.keys.Set(ctx, k.leaf, "", &client.SetOptions{TTL: seconds(k.ttl), Refresh: true, PrevIndex: k.index})
	})
	if err != nil {
		return err
	}
	k.index = resp.Node.ModifiedIndex
	return nil
}

func (k *keeper) refreshNode(ctx context.Context) error {
	_, err := request(ctx, k.s.timeout, func(ctx context.Context) (*client.Response, error) {
		return k.s.keys.Set(ctx, k.node, "", &client.SetOptions{TTL: seconds(k.ttl), Refresh: true, PrevExist: client.PrevExist})
	})
	return err
}

// lose closes lost, then removes what is left of the acquisition so that the next waiter need
// not wait for the TTL. lost closes first: by then this holder has been told.
func (k *keeper) lose() {
	close(k.lost)
	cleanup, cancel := context.WithTimeout(context.Background(), k.s.timeout)
	defer cancel()
	_ = k.deleteKey(cleanup)
	_ = k.deleteNode(cleanup)
}

// release is lose for Unlock and Close, which report whether the nodes could be deleted.
func (k *keeper) release(ctx context.Context) error {
	close(k.lost)
	if err := k.deleteKey(ctx); err != nil {
		return err
	}
	return k.deleteNode(ctx)
}

// deleteKey deletes the lock key if it still holds this acquisition's value. It goes before
// the queue node: once that is gone, the next holder writes the key.
func (k *keeper) deleteKey(ctx context.Context) error {
	_, err := request(ctx, k.s.timeout, func(ctx context.Context) (*client.Response, error) {
		return k.s.keys.Delete(ctx, k.leaf, &client.DeleteOptions{PrevIndex: k.index})
	})
	if absent(err) || isCode(err, client.ErrorCodeTestFailed) {
		return nil
	}
	if err == nil {
		k.s.prune(ctx, parentDir(k.leaf), "/")
	}
	return err
}

func (k *keeper) deleteNode(ctx context.Context) error {
	_, err := request(ctx, k.s.timeout, func(ctx context.Context) (*client.Response, error) {
		return k.s.keys.Delete(ctx, k.node, nil)
	})
	if absent(err) {
		return nil
	}
	if err == nil {
		k.s.prune(ctx, k.queue, lockRoot)
	}
	return err
}

// watchRemoval follows node from index and reports true once it is deleted, expires or is
// written by someone else (the keeper's own refreshes make no event), and false when ctx ends.
// When etcd lost the events, the node is read afresh: still there, it is followed from the read.
func (s *Store) watchRemoval(ctx context.Context, node string, index uint64) bool {
	for ctx.Err() == nil {
		watcher := s.keys.Watcher(node, &client.WatcherOptions{AfterIndex: index})
		resp, err := s.next(ctx, watcher)
		switch {
		case err == nil && (removal(resp, node) || resp.Node.Key == node):
			return true
		case err == nil:
			index = resp.Node.ModifiedIndex
		case historyCleared(err):
			resp, err := request(ctx, s.timeout, func(ctx context.Context) (*client.Response, error) {
				return s.keys.Get(ctx, node, &client.GetOptions{Quorum: true})
			})
			if absent(err) {
				return true
			}
			if err == nil {
				index = resp.Index
			}
		default:
			// The keeper's refreshes and its expiry timer decide when an outage loses the lock.
			retry.Sleep(ctx, time.Second)
		}
	}
	return false
}
