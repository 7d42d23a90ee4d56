package zookeeper

import (
	"context"
	"errors"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
)

// A ZooKeeper watch fires once and carries no data, so a Store watch re-reads the node after each
// event, arming the next watch with the same read. Writes that land between an event and that
// read are seen as one: Watch sends every distinct version it reads, in order, but several quick
// writes may give one event (ZooKeeper itself coalesces them). After writes stop, the last event
// always equals Get.
//
// A lost connection is retried inside: go-zookeeper reconnects and re-arms the session's
// watches, and a read that failed is tried again once the session is back. If the session
// expired, the server forgot every watch; the next session arms them afresh and the watch
// reports whatever changed meanwhile.

// retryDelay is how long a watch or lock waits before trying again after a failure that no
// session event announces the end of; with a session in place (the failure came just before
// it), it waits only quickRetry.
const (
	retryDelay = time.Second
	quickRetry = 100 * time.Millisecond
)

// retryTimer returns when to try again after a failure.
func (s *session) retryTimer() <-chan time.Time {
	if s.conn.State() == zk.StateHasSession {
		return time.After(quickRetry)
	}
	return time.After(retryDelay)
}

// Watch reports the value of key; see kvstore.Store. A deletion, an expiry included, is sent as a
// nil pair. The channel closes when ctx ends, on Close, or when the Store is refused access.
func (s *Store) Watch(ctx context.Context, key string, _ *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	key, err := s.normalize(ctx, "watch", key, false)
	if err != nil {
		return nil, err
	}
	w := &keyWatch{s: s, key: key, path: s.path(key), out: make(chan *kvstore.KVPair)}
	w.mb = s.sess.router.subscribe(func(p string) bool { return p == w.path })
	if err := s.life.Go(ctx, w.run); err != nil {
		s.sess.router.unsubscribe(w.mb)
		return nil, s.wrapErr(ctx, "watch", key, err)
	}
	return w.out, nil
}

type keyWatch struct {
	s         *Store
	key, path string
	mb        *mailbox
	out       chan *kvstore.KVPair
	last      *kvstore.KVPair // the last pair sent; nil before the first and after a deletion
	// due is when to read the key again to see it expire (see expiry.go); zero for never.
	due time.Time
	// recheck is set when due came without any event: the key's data watch is still armed.
	recheck bool
}

func (w *keyWatch) run(ctx context.Context) {
	defer close(w.out)
	defer w.s.sess.router.unsubscribe(w.mb)
	for {
		pair, err := w.read(ctx)
		if err != nil && !transient(err) {
			return // refused, or ctx ended, or closed
		}
		if err == nil && !w.send(ctx, pair) {
			return
		}
		if !w.await(ctx, err != nil) {
			return
		}
	}
}

// read returns the current pair (nil if the key does not exist) and leaves a watch armed on it.
func (w *keyWatch) read(ctx context.Context) (*kvstore.KVPair, error) {
	type result struct {
		znode
		ttl time.Duration
	}
	recheck := w.recheck
	w.recheck = false
	r, err := call(ctx, w.s.sess, func(c *zk.Conn) (result, error) {
		read := getW(c)
		if recheck {
			read = c.Get // the data watch of the last read has not fired: arming another would pile up
		}
		for {
			// An expired key is deleted, which fires the key's data watch.
			n, ttl, err := w.s.readLive(c, w.path, read)
			read = getW(c)
			if !errors.Is(err, zk.ErrNoNode) {
				return result{n, ttl}, err
			}
			// An exists watch reports the creation; a node created in between is read again.
			if exists, _, _, err := c.ExistsW(w.path); err != nil || !exists {
				return result{}, err
			}
		}
	})
	w.due = time.Time{}
	if err != nil || r.data == nil {
		return nil, err
	}
	w.due = pollAt(r.ttl, r.stat, time.Now())
	return &kvstore.KVPair{Key: w.key, Value: r.data, LastIndex: uint64(r.stat.Mzxid)}, nil
}

// getW is c.GetW as readLive reads: the watch fires into the session's router.
func getW(c *zk.Conn) func(path string) ([]byte, *zk.Stat, error) {
	return func(path string) ([]byte, *zk.Stat, error) {
		data, stat, _, err := c.GetW(path)
		return data, stat, err
	}
}

// send delivers pair if it is news: a newer version, or a deletion of a key that was reported.
func (w *keyWatch) send(ctx context.Context, pair *kvstore.KVPair) bool {
	if pair == nil && w.last == nil || pair != nil && w.last != nil && pair.LastIndex <= w.last.LastIndex {
		return true
	}
	select {
	case w.out <- pair:
		w.last = pair
		return true
	case <-ctx.Done():
	case <-w.s.life.Context().Done():
	}
	return false
}

// await waits until the node may have changed: one of its events, a renewed session after the
// watches were lost, its expiry, or, after a failed read, a session event or the retry timer.
func (w *keyWatch) await(ctx context.Context, failed bool) bool {
	var retry <-chan time.Time
	if failed {
		retry = w.s.sess.retryTimer()
	}
	expiry, stop := expiryTimer(w.due)
	defer stop()
	for {
		select {
		case <-w.mb.wake:
		case <-retry:
			return true
		case <-expiry:
			w.recheck = true
			return true
		case <-ctx.Done():
			return false
		case <-w.s.life.Context().Done():
			return false
		}
		// Child events reach this mailbox when a WatchTree of the same Store watches the node's
		// children; they do not consume this watch.
		m := w.mb.take()
		if m.nodes[w.path].has(zk.EventNodeCreated, zk.EventNodeDeleted, zk.EventNodeDataChanged) || m.lost || failed && m.session {
			return true
		}
	}
}
