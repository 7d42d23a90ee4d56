package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
)

// monitor runs while the lock is held. Once it is lost, it closes the lost channel first and only
// then ends the session, whose end deletes the queue node and the key: no other contender can
// take the lock before this holder has been told.
func (l *locker) monitor(h *holding) {
	l.watchHolding(h)
	close(h.lost)
	h.sess.close()
	close(h.done)
	// The key's implicit parents may now be empty; the Store's own session tidies them up
	// (unless the Store is closing).
	ctx, cancel := context.WithTimeout(context.Background(), l.s.cfg.Timeout())
	defer cancel()
	l.s.prune(ctx, l.path)
}

// watchHolding returns when the lock is lost: the queue node or the key was deleted, the session
// lost its connection, RenewLock was closed TTL ago, Unlock was called or the Store closed.
//
// A lost connection loses the lock even when the session might survive: go-zookeeper notices a
// silent server after two thirds of the session timeout, and the server may expire the session
// a third of the timeout later, then hand the lock to the next contender. Waiting for a
// reconnection would risk two holders.
func (l *locker) watchHolding(h *holding) {
	renew := l.opts.RenewLock
	var expire <-chan time.Time
	for {
		select {
		case <-h.mb.wake:
		case <-renew:
			// Renewal stopped: the lock lasts TTL more, as a holder that died would.
			renew, expire = nil, time.After(l.opts.TTL)
			continue
		case <-expire:
			return
		case <-h.stop:
			return
		case <-l.s.life.Context().Done():
			return
		}
		m := h.mb.take()
		node, key := m.nodes[h.node], m.nodes[l.path]
		if m.lost || m.down || node.has(zk.EventNodeDeleted) || key.has(zk.EventNodeDeleted) {
			return
		}
		if key.has(zk.EventNodeDataChanged) && !l.rearm(h) {
			return
		}
	}
}

// rearm watches the key again after a write to it; false if the key is gone or unreachable.
func (l *locker) rearm(h *holding) bool {
	ctx, cancel := context.WithTimeout(context.Background(), l.s.cfg.Timeout())
	defer cancel()
	exists, err := call(ctx, h.sess, func(c *zk.Conn) (bool, error) {
		exists, _, _, err := c.ExistsW(l.path)
		return exists, err
	})
	return err == nil && exists
}

// Unlock releases the lock: the lost channel closes, then the session ends, which deletes the
// key and the queue node at once so that the next contender takes over. It returns once that is
// done, or when ctx ends (the release then completes in the background).
func (l *locker) Unlock(ctx context.Context) error {
	l.mu.Lock()
	h := l.held
	l.held = nil
	l.mu.Unlock()
	if h == nil || chans.Closed(h.lost) {
		err := kvstore.ErrNotLocked
		if l.s.life.Ended() {
			err = errors.Join(kvstore.ErrClosed, kvstore.ErrNotLocked)
		}
		return fmt.Errorf("zookeeper unlock %q: %w", l.key, err)
	}
	h.once.Do(func() { close(h.stop) })
	select {
	case <-h.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("zookeeper unlock %q: %w", l.key, ctx.Err())
	}
}
