package zookeeper

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
)

// lockRoot is the node below the Store's root that holds the lock queues. Its name is one the key
// encoding never produces, so it is never a key, and List, WatchTree and DeleteTree pass it by.
const lockRoot = "%{25}kvmirror-locks"

// queuePrefix begins the name of each contender's node in a lock queue.
const queuePrefix = "lock-"

// errSessionLost ends a lock attempt whose session expired: its queue node is gone, and the
// attempt starts again with a new session.
var errSessionLost = errors.New("zookeeper: the lock session expired")

// NewLock returns a Locker for key; see doc.go for how locks work on ZooKeeper.
func (s *Store) NewLock(ctx context.Context, key string, opts *kvstore.LockOptions) (kvstore.Locker, error) {
	key, err := s.normalize(ctx, "new lock", key, false)
	if err != nil {
		return nil, err
	}
	o, err := kvstore.CheckLock(opts)
	switch {
	case err != nil:
	case len(o.Value) > maxValueSize:
		err = fmt.Errorf("%w: lock value of %d bytes, ZooKeeper's limit here is %d", kvstore.ErrValueTooLarge, len(o.Value), maxValueSize)
	case o.TTL > maxTTL:
		err = fmt.Errorf("%w: lock TTL %s", kvstore.ErrInvalidOption, o.TTL)
	}
	if err != nil {
		return nil, fmt.Errorf("zookeeper new lock %q: %w", key, err)
	}
	queue := s.child(s.child(s.root, lockRoot), base64.RawURLEncoding.EncodeToString([]byte(key)))
	return &locker{s: s, key: key, path: s.path(key), queue: queue, opts: o}, nil
}

// locker is a kvstore.Locker. Each Lock call has a ZooKeeper session of its own, whose timeout
// is the lock's TTL: the session's ephemeral nodes are the lock.
type locker struct {
	s     *Store
	key   string
	path  string // the key's znode, holding the value while the lock is held
	queue string // the znode below which contenders queue
	opts  kvstore.LockOptions

	mu   sync.Mutex
	held *holding
}

// holding is one tenure of the lock, watched by a monitor goroutine.
type holding struct {
	sess *session
	mb   *mailbox      // the events of the queue node and of the key
	node string        // the holder's queue node
	lost chan struct{} // closed by the monitor, first thing when the lock is lost
	stop chan struct{} // closed by Unlock
	done chan struct{} // closed once the monitor released the session
	once sync.Once
}

// Lock queues for the lock and returns once it is held; see kvstore.Locker.
func (l *locker) Lock(ctx context.Context) (<-chan struct{}, error) {
	l.mu.Lock()
	busy := l.held != nil && !chans.Closed(l.held.lost)
	l.mu.Unlock()
	switch {
	case l.s.life.Ended():
		return nil, fmt.Errorf("zookeeper lock %q: %w", l.key, kvstore.ErrClosed)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("zookeeper lock %q: %w", l.key, ctx.Err())
	case busy:
		return nil, fmt.Errorf("zookeeper lock %q: this Locker holds it already", l.key)
	}
	// Close waits for Lock calls in progress, and ends their attempts, connecting included.
	ctx, leave, err := l.s.life.Enter(ctx)
	if err != nil {
		return nil, fmt.Errorf("zookeeper lock %q: %w", l.key, err)
	}
	defer leave()
	h, err := l.attempt(ctx)
	// A waiter whose session expired (a long outage) queues again with a new session, retrying
	// until the server is back or ctx ends; a first attempt that cannot connect fails instead.
	for queued := false; errors.Is(err, errSessionLost) || queued && transient(err); {
		queued = true
		if err = l.pause(ctx, err); err == nil {
			h, err = l.attempt(ctx)
		}
	}
	if err != nil {
		return nil, l.s.wrapErr(ctx, "lock", l.key, err)
	}
	l.mu.Lock()
	l.held = h
	l.mu.Unlock()
	return h.lost, nil
}

// pause waits retryDelay before another attempt after a failed one (not after a lost session).
func (l *locker) pause(ctx context.Context, failure error) error {
	if errors.Is(failure, errSessionLost) {
		return nil
	}
	select {
	case <-time.After(retryDelay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.s.life.Context().Done():
		return kvstore.ErrClosed
	}
}

// attempt takes the lock with a new session, which it closes unless the lock is held.
func (l *locker) attempt(ctx context.Context) (*holding, error) {
	sess, err := openSession(ctx, l.s.servers, &l.s.cfg, l.opts.TTL)
	if err != nil {
		return nil, err
	}
	// Close ends the session of a waiting attempt, which makes the attempt return at once.
	err = l.s.life.Hold(sess, func() error {
		sess.close()
		return nil
	})
	if err != nil {
		sess.close()
		return nil, err
	}
	h, err := l.acquire(ctx, sess)
	l.s.life.Drop(sess)
	if err != nil {
		sess.close()
		return nil, err
	}
	// From here on the monitor owns the session; if Close has begun, there is none.
	if err := l.s.life.Go(context.Background(), func(context.Context) { l.monitor(h) }); err != nil {
		sess.close()
		return nil, err
	}
	return h, nil
}

// acquire queues on sess, waits for its turn and writes the key.
func (l *locker) acquire(ctx context.Context, sess *session) (*holding, error) {
	mb := sess.router.subscribe(func(p string) bool { return p == l.path || strings.HasPrefix(p, l.queue+"/") })
	node, err := l.enqueue(ctx, sess)
	if err == nil {
		err = l.awaitTurn(ctx, sess, mb, node)
	}
	if err == nil {
		err = l.writeKey(ctx, sess)
	}
	if err != nil {
		return nil, err
	}
	h := &holding{sess: sess, mb: mb, node: node, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	// The deletion of the queue node or of the key loses the lock: watch both. What happened
	// while waiting (a connection lost and regained in time) does not count.
	mb.take()
	err = sess.do(ctx, func(c *zk.Conn) error {
		for _, p := range []string{node, l.path} {
			if exists, _, _, err := c.ExistsW(p); err != nil || !exists {
				return errors.Join(err, zk.ErrNoNode)
			}
		}
		return nil
	})
	return h, err
}

// enqueue creates this contender's ephemeral sequential node in the queue. The queue and the lock
// root are containers, which the server deletes once they have been emptied.
func (l *locker) enqueue(ctx context.Context, sess *session) (string, error) {
	for attempt := 0; ; attempt++ {
		node, err := call(ctx, sess, func(c *zk.Conn) (string, error) {
			return c.Create(l.queue+"/"+queuePrefix, nil, zk.FlagEphemeralSequential, l.s.acl)
		})
		if !errors.Is(err, zk.ErrNoNode) || attempt == maxAttempts {
			return node, err
		}
		if err := l.makeQueue(ctx, sess); err != nil {
			return "", err
		}
	}
}

// makeQueue creates the queue container, and the lock root container above it. The lock root is
// shared by every identity: anyone may read it and create queues in it.
func (l *locker) makeQueue(ctx context.Context, sess *session) error {
	rootNode := parentPath(l.queue)
	if err := l.s.makeDirs(ctx, sess, parentPath(rootNode)); err != nil {
		return err
	}
	return sess.do(ctx, func(c *zk.Conn) error {
		_, err := c.CreateContainer(rootNode, nil, zk.FlagContainer, zk.WorldACL(zk.PermRead|zk.PermCreate))
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
		_, err = c.CreateContainer(l.queue, nil, zk.FlagContainer, l.s.acl)
		if errors.Is(err, zk.ErrNodeExists) {
			return nil
		}
		return err
	})
}

// awaitTurn returns once node is first in the queue. Each contender watches only the node before
// it, so a release wakes one waiter, not all. Connection trouble is waited out; an expired
// session is errSessionLost.
func (l *locker) awaitTurn(ctx context.Context, sess *session, mb *mailbox, node string) error {
	name := node[strings.LastIndexByte(node, '/')+1:]
	for {
		state, err := call(ctx, sess, func(c *zk.Conn) (turn, error) {
			names, _, err := c.Children(l.queue)
			if err != nil {
				return 0, err
			}
			names = sortQueue(names)
			switch i := slices.Index(names, name); i {
			case -1:
				return 0, errSessionLost
			case 0:
				return first, nil
			default:
				exists, _, _, err := c.ExistsW(l.queue + "/" + names[i-1])
				if !exists {
					return again, err
				}
				return waiting, err
			}
		})
		switch {
		case err == nil && state == first:
			return nil
		case err == nil && state == again:
			continue
		case err != nil && !transient(err):
			return err
		}
		if err := l.awaitChange(ctx, mb, err != nil); err != nil {
			return err
		}
	}
}

// turn is where a contender stands in the queue.
type turn int

const (
	first   turn = iota + 1 // it holds the lock
	waiting                 // the node before it exists, and its deletion is watched
	again                   // the node before it went meanwhile: look again
)

// awaitChange waits for an event of the queue, or for the session to come back after failed.
func (l *locker) awaitChange(ctx context.Context, mb *mailbox, failed bool) error {
	for {
		select {
		case <-mb.wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.s.life.Context().Done():
			return kvstore.ErrClosed
		}
		m := mb.take()
		switch {
		case m.lost:
			return errSessionLost
		case len(m.nodes) > 0, failed && m.session:
			return nil
		}
	}
}

// sortQueue keeps the contenders' names and sorts them by sequence number.
func sortQueue(names []string) []string {
	names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, queuePrefix) })
	seq := func(n string) int64 {
		v, _ := strconv.ParseInt(n[len(queuePrefix):], 10, 64)
		return v
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(seq(a), seq(b)) })
	return names
}

// writeKey writes the lock's value at its key as an ephemeral node of the lock session, so that
// the key goes with the lock. A key already there (written by Put) is replaced.
func (l *locker) writeKey(ctx context.Context, sess *session) error {
	for range maxAttempts {
		err := l.s.create(ctx, sess, l.path, l.opts.Value, 0, zk.FlagEphemeral)
		if !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
		err = sess.do(ctx, func(c *zk.Conn) error {
			_, stat, err := c.Get(l.path)
			switch {
			case err != nil:
				return err
			case stat.EphemeralOwner == sess.sessionID():
				_, err = c.Set(l.path, l.opts.Value, stat.Version)
			default:
				_, err = c.Multi(&zk.DeleteRequest{Path: l.path, Version: stat.Version},
					&zk.CreateRequest{Path: l.path, Data: l.opts.Value, Acl: l.s.acl, Flags: zk.FlagEphemeral})
			}
			return err
		})
		if !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrBadVersion) && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
	}
	return zk.ErrBadVersion
}
