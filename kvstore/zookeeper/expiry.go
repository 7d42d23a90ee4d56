package zookeeper

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// A ZooKeeper server deletes an expired TTL node only when its container sweep comes by, every
// znode.container.checkIntervalMs (60 s by default), so the Store expires its keys itself: a node
// with a recorded TTL (see nodes.go), no children, and a last write (its mtime, on the server's
// clock) more than TTL ago reads as absent, and the read that finds it deletes it at the version
// it read, so a concurrent rewrite or a new child is never lost. The server's sweep stays the
// backstop for nodes no Store reads. Watches cannot wait for a read: they arm a timer for the
// deadline of what they reported and read again when it fires (see recheckAt).

const (
	// expiryMargin is how long after a deadline a watch reads again, so that the read finds the
	// deadline passed despite timer granularity.
	expiryMargin = 20 * time.Millisecond
	// childPoll is how often a watch reads again a key past its deadline that has children: it
	// expires once they are gone, and no event on the key itself says when.
	childPoll = time.Second
	// ttlCacheSize bounds the TTLs remembered; the cache starts over when it is full.
	ttlCacheSize = 1 << 16
)

// ttlCache remembers the TTL recorded on nodes by creation zxid: the Store sets a node's ACL list
// only when it creates it, so the TTL of a node, once read, never changes.
type ttlCache struct {
	mu   sync.Mutex
	ttls map[int64]time.Duration
}

// ttlOf returns the TTL recorded on the node at path whose stat was just read on c, reading its
// ACL list unless known. When that fails or finds another node (re-created meanwhile), it returns
// 0: the node is then taken as permanent, and the server's sweep remains.
func (tc *ttlCache) ttlOf(c *zk.Conn, path string, stat *zk.Stat) time.Duration {
	tc.mu.Lock()
	ttl, ok := tc.ttls[stat.Czxid]
	tc.mu.Unlock()
	if ok {
		return ttl
	}
	acl, aclStat, err := c.GetACL(path)
	if err != nil || aclStat.Czxid != stat.Czxid {
		return 0
	}
	ttl = ttlOf(acl)
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.ttls == nil || len(tc.ttls) >= ttlCacheSize {
		tc.ttls = map[int64]time.Duration{}
	}
	tc.ttls[stat.Czxid] = ttl
	return ttl
}

// expired reports whether a node with the given stat and recorded TTL has expired: it has a TTL,
// no children, and its last write is more than TTL ago.
func expired(stat *zk.Stat, ttl time.Duration, now time.Time) bool {
	return ttl > 0 && stat.NumChildren == 0 && now.After(time.UnixMilli(stat.Mtime).Add(ttl))
}

// recheckAt returns when a watch that read a key with this TTL, mtime and number of children
// should read it again to see it expire, or the zero time if it cannot expire before an event:
// it has no TTL, or children (whose deletion fires a child watch).
func recheckAt(ttl time.Duration, mtime int64, children int32) time.Time {
	if ttl == 0 || children > 0 {
		return time.Time{}
	}
	return time.UnixMilli(mtime).Add(ttl + expiryMargin)
}

// pollAt is recheckAt for a Watch, which has no child watch: a key with children is read again
// every childPoll once past its deadline.
func pollAt(ttl time.Duration, stat *zk.Stat, now time.Time) time.Time {
	due := recheckAt(ttl, stat.Mtime, 0)
	if stat.NumChildren > 0 && !due.IsZero() && due.Before(now.Add(childPoll)) {
		due = now.Add(childPoll)
	}
	return due
}

// readLive reads the node at path on c with read (c.Get, or c.GetW for a watch) and returns it
// with its recorded TTL. A key that has expired is deleted at the version read and reported as
// zk.ErrNoNode; when that delete loses to a write or a new child, the node is read again (and,
// should that go on, finally reported as read).
func (s *Store) readLive(c *zk.Conn, path string, read func(path string) ([]byte, *zk.Stat, error)) (znode, time.Duration, error) {
	for attempt := 1; ; attempt++ {
		data, stat, err := read(path)
		if err != nil || data == nil {
			return znode{data, stat}, 0, err
		}
		ttl := s.ttls.ttlOf(c, path, stat)
		if !expired(stat, ttl, time.Now()) || attempt == maxAttempts {
			return znode{data, stat}, ttl, nil
		}
		err = c.Delete(path, stat.Version)
		if !errors.Is(err, zk.ErrBadVersion) && !errors.Is(err, zk.ErrNotEmpty) {
			// Deleted, by this call or another; or the delete failed and the sweep will do it.
			return znode{}, 0, zk.ErrNoNode
		}
	}
}

// get reads the node at path, after a sync when consistent; an expired key is zk.ErrNoNode.
func (s *Store) get(ctx context.Context, path string, consistent bool) (znode, error) {
	return call(ctx, s.sess, func(c *zk.Conn) (znode, error) {
		if consistent {
			if _, err := c.Sync(path); err != nil {
				return znode{}, err
			}
		}
		n, _, err := s.readLive(c, path, c.Get)
		return n, err
	})
}

// dropExpired deletes the node n, read by inspect, if it has expired, and reports whether it did
// or found it gone: the caller then treats the node as absent.
func (s *Store) dropExpired(ctx context.Context, path string, n *node) bool {
	if !expired(n.stat, n.ttl, time.Now()) {
		return false
	}
	err := s.sess.do(ctx, func(c *zk.Conn) error { return c.Delete(path, n.stat.Version) })
	return err == nil || errors.Is(err, zk.ErrNoNode)
}

// expiryTimer returns a channel that receives at due (never, for the zero time) and the function
// that stops its timer.
func expiryTimer(due time.Time) (<-chan time.Time, func() bool) {
	if due.IsZero() {
		return nil, func() bool { return false }
	}
	timer := time.NewTimer(time.Until(due))
	return timer.C, timer.Stop
}
