package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
)

// A key is a znode whose data is not null; an empty value is stored as empty (not null) data.
// Parents that a write creates implicitly have null data, so they are directories, not keys,
// exactly as zkCli's `create /path` makes them. Deleting a key that has children only nulls its
// data, and deleting the last key below implicit parents removes the parents that became empty.
//
// ZooKeeper never tells a client whether a node has a TTL (its stat shows 0 as the owner of TTL
// and container nodes alike), yet a write without a TTL must make a TTL key permanent, and a write
// with a TTL must know whether a plain data update is enough to extend it. So every TTL node the
// Store creates carries its TTL in its ACL list, as an entry that grants nothing:
// digest "kvmirror-ttl:<milliseconds>" with no permission.

const (
	// maxValueSize keeps a request below ZooKeeper's default jute.maxbuffer (1 MiB), with room for
	// the path and ACLs. A bigger request makes the server drop the connection instead of
	// answering.
	maxValueSize = 1000 << 10
	// maxTTL is the largest TTL a ZooKeeper TTL node accepts (2^40-1 ms, about 34 years).
	maxTTL = (1<<40 - 1) * time.Millisecond
	// ttlMarker begins the ACL id recording a node's TTL.
	ttlMarker = "kvmirror-ttl:"
	// maxAttempts bounds the retries of a write racing other writers of the same node.
	maxAttempts = 100
)

// node is what a write needs to know of an existing znode.
type node struct {
	data []byte // nil for an implicit parent, or when not read
	stat *zk.Stat
	ttl  time.Duration // the TTL the Store gave the node; 0 for none
}

func (n *node) isKey() bool { return n != nil && n.data != nil }

// fits reports whether a data update of n leaves it with the given TTL (0: permanent). A lock's
// key belongs to the lock's session and never fits: a write replaces it, and the lock is lost.
func (n *node) fits(ttl time.Duration) bool {
	return n.stat.EphemeralOwner == 0 && n.ttl == ttl
}

// inspect reads the node at path: its ACL and stat, and with withData its data too, in the same
// round trip. It returns nil, nil when there is no node, or when it has expired (and is deleted).
func (s *Store) inspect(ctx context.Context, path string, withData bool) (*node, error) {
	for range maxAttempts {
		n, err := call(ctx, s.sess, func(c *zk.Conn) (*node, error) {
			read := make(chan znode, 1)
			readErr := make(chan error, 1)
			go func() {
				if !withData {
					read <- znode{}
					readErr <- nil
					return
				}
				data, stat, err := c.Get(path)
				read <- znode{data, stat}
				readErr <- err
			}()
			acl, stat, err := c.GetACL(path)
			n := &node{stat: stat, ttl: ttlOf(acl)}
			r := <-read
			n.data = r.data
			if err = errors.Join(err, <-readErr); err == nil && withData && r.stat.Czxid != stat.Czxid {
				n = nil // re-created between the two reads
			}
			return n, err
		})
		switch {
		case errors.Is(err, zk.ErrNoNode):
			return nil, nil
		case err != nil:
			return nil, err
		case n != nil && s.dropExpired(ctx, path, n):
			return nil, nil
		case n != nil:
			return n, nil
		}
	}
	return nil, fmt.Errorf("%w: %s keeps being re-created", kvstore.ErrKeyModified, path)
}

// ttlOf returns the TTL recorded in a node's ACL list.
func ttlOf(acl []zk.ACL) time.Duration {
	for _, a := range acl {
		if a.Scheme == "digest" && a.Perms == 0 && strings.HasPrefix(a.ID, ttlMarker) {
			if ms, err := strconv.ParseInt(a.ID[len(ttlMarker):], 10, 64); err == nil {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	return 0
}

// aclFor returns the ACL list of a new node with the given TTL.
func (s *Store) aclFor(ttl time.Duration) []zk.ACL {
	if ttl == 0 {
		return s.acl
	}
	marker := zk.ACL{Scheme: "digest", ID: ttlMarker + strconv.FormatInt(ttl.Milliseconds(), 10)}
	return append(append([]zk.ACL{}, s.acl...), marker)
}

// create creates the node at path on sess (the Store's session, or a lock's for its ephemeral
// key), with its missing parents. A TTL makes it a TTL node, otherwise flags apply.
func (s *Store) create(ctx context.Context, sess *session, path string, data []byte, ttl time.Duration, flags int32) error {
	for attempt := 0; ; attempt++ {
		err := sess.do(ctx, func(c *zk.Conn) error {
			if ttl > 0 {
				_, err := c.CreateTTL(path, data, zk.FlagTTL, s.aclFor(ttl), ttl)
				return err
			}
			_, err := c.Create(path, data, flags, s.acl)
			return err
		})
		// A missing parent, or one that a concurrent delete pruned after we made it.
		if !errors.Is(err, zk.ErrNoNode) || attempt == maxAttempts {
			return err
		}
		if err := s.makeDirs(ctx, sess, parentPath(path)); err != nil {
			return err
		}
	}
}

// makeDirs creates path and its missing ancestors as implicit parents (null data).
func (s *Store) makeDirs(ctx context.Context, sess *session, path string) error {
	for attempt := 0; path != "/"; attempt++ {
		err := sess.do(ctx, func(c *zk.Conn) error {
			_, err := c.Create(path, nil, zk.FlagPersistent, s.acl)
			return err
		})
		switch {
		case err == nil, errors.Is(err, zk.ErrNodeExists):
			return nil
		case !errors.Is(err, zk.ErrNoNode) || attempt == maxAttempts:
			return err
		}
		if err := s.makeDirs(ctx, sess, parentPath(path)); err != nil {
			return err
		}
	}
	return nil
}

// parentPath is the parent znode of path ("/" for a top-level node).
func parentPath(path string) string {
	if i := strings.LastIndexByte(path, '/'); i > 0 {
		return path[:i]
	}
	return "/"
}

// replace re-creates the node at path, at the given data version, with data and a TTL (0:
// permanent), because ZooKeeper cannot change the kind of a node. Without a TTL, deletion and
// creation are one transaction; a TTL node cannot be created in a transaction by this client, so
// there watchers may see the key vanish for an instant. A node with children cannot be replaced.
func (s *Store) replace(ctx context.Context, path string, data []byte, ttl time.Duration, version int32) error {
	err := s.sess.do(ctx, func(c *zk.Conn) error {
		if ttl > 0 {
			return c.Delete(path, version)
		}
		_, err := c.Multi(&zk.DeleteRequest{Path: path, Version: version},
			&zk.CreateRequest{Path: path, Data: data, Acl: s.acl, Flags: zk.FlagPersistent})
		return err
	})
	if err != nil || ttl == 0 {
		return err
	}
	return s.create(ctx, s.sess, path, data, ttl, zk.FlagPersistent)
}

// createdIndex returns the LastIndex of a node this Store just created: its creation zxid. If
// another client deleted and re-created the node in the instant between, the index is that of
// the newer node; ZooKeeper's create answer carries no zxid that would close this gap.
func (s *Store) createdIndex(ctx context.Context, path string) (uint64, error) {
	stat, err := call(ctx, s.sess, func(c *zk.Conn) (*zk.Stat, error) {
		_, stat, err := c.Exists(path)
		return stat, err
	})
	if err == nil && stat.Czxid == 0 {
		err = zk.ErrNoNode
	}
	if err != nil {
		return 0, err
	}
	return uint64(stat.Czxid), nil
}

// clearValue removes the value of the key at path, whose stat the caller read: the node goes if
// it has no children, otherwise it becomes an implicit parent. The version guards both.
func (s *Store) clearValue(ctx context.Context, path string, stat *zk.Stat) error {
	return s.sess.do(ctx, func(c *zk.Conn) error {
		if stat.NumChildren == 0 {
			err := c.Delete(path, stat.Version)
			if !errors.Is(err, zk.ErrNotEmpty) {
				return err
			}
		}
		_, err := c.Set(path, nil, stat.Version)
		return err
	})
}

// prune deletes the implicit parents of path that no longer hold anything, bottom up, stopping
// at the root, at a key or at a parent with children. Each delete is conditional on the version
// and emptiness read just before, so a concurrent writer either sees its parent deleted and
// re-creates it (see create), or keeps it: nothing is lost. Errors only stop the pruning.
func (s *Store) prune(ctx context.Context, path string) {
	for p := s.parent(path); p != "" && p != s.root; p = s.parent(p) {
		err := s.sess.do(ctx, func(c *zk.Conn) error {
			data, stat, err := c.Get(p)
			if err != nil {
				return err
			}
			if data != nil || stat.NumChildren > 0 {
				return zk.ErrNotEmpty
			}
			return c.Delete(p, stat.Version)
		})
		if err != nil {
			return
		}
	}
}
