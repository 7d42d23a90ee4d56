package zookeeper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Get returns the pair at key. With opts.Consistent, the server first catches up with the
// ensemble's leader (ZooKeeper's sync), so the read is not older than any write that completed
// before it.
func (s *Store) Get(ctx context.Context, key string, opts *kvstore.ReadOptions) (*kvstore.KVPair, error) {
	key, err := s.normalize(ctx, "get", key, false)
	if err != nil {
		return nil, err
	}
	n, err := s.get(ctx, s.path(key), kvstore.IsConsistent(opts))
	if err == nil && n.data == nil {
		err = zk.ErrNoNode // an implicit parent is not a key
	}
	if err != nil {
		return nil, s.wrapErr(ctx, "get", key, err)
	}
	return &kvstore.KVPair{Key: key, Value: n.data, LastIndex: uint64(n.stat.Mzxid)}, nil
}

// Exists reports whether key exists.
func (s *Store) Exists(ctx context.Context, key string, opts *kvstore.ReadOptions) (bool, error) {
	_, err := s.Get(ctx, key, opts)
	if errors.Is(err, kvstore.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Put writes value at key. With opts.TTL the key becomes a ZooKeeper TTL node, which expires once
// it has gone TTL without a write and has no children: the Store then no longer reads it and
// deletes it, and the server's sweep (every znode.container.checkIntervalMs, 60 s by default)
// deletes what no Store read. A key that has keys below it cannot gain or lose a TTL (see
// doc.go).
func (s *Store) Put(ctx context.Context, key string, value []byte, opts *kvstore.WriteOptions) error {
	key, err := s.normalize(ctx, "put", key, false)
	if err != nil {
		return err
	}
	ttl, value, err := checkWrite(opts, value)
	if err != nil {
		return fmt.Errorf("zookeeper put %q: %w", key, err)
	}
	path := s.path(key)
	for range maxAttempts {
		var n *node
		if n, err = s.inspect(ctx, path, false); err != nil {
			break
		}
		switch {
		case n == nil:
			err = s.create(ctx, s.sess, path, value, ttl, zk.FlagPersistent)
		case n.fits(ttl):
			err = s.sess.do(ctx, func(c *zk.Conn) error {
				_, err := c.Set(path, value, n.stat.Version)
				return err
			})
		default:
			err = s.replace(ctx, path, value, ttl, n.stat.Version)
		}
		// Another writer changed the node between the read and the write: read again.
		if !errors.Is(err, zk.ErrNodeExists) && !errors.Is(err, zk.ErrBadVersion) && !errors.Is(err, zk.ErrNoNode) {
			break
		}
	}
	return s.wrapErr(ctx, "put", key, err)
}

// checkWrite validates write options and value, returning the TTL to apply and a value that is
// never nil (nil data would make the key an implicit parent).
func checkWrite(opts *kvstore.WriteOptions, value []byte) (time.Duration, []byte, error) {
	ttl, err := kvstore.CheckWrite(opts)
	switch {
	case err != nil:
		return 0, nil, err
	case ttl > maxTTL:
		return 0, nil, fmt.Errorf("%w: TTL %s is above ZooKeeper's limit of %s", kvstore.ErrInvalidOption, ttl, maxTTL)
	case len(value) > maxValueSize:
		return 0, nil, fmt.Errorf("%w: %d bytes, ZooKeeper's limit here is %d", kvstore.ErrValueTooLarge, len(value), maxValueSize)
	}
	if ttl > 0 {
		ttl = max(ttl.Round(time.Millisecond), time.Millisecond)
	}
	if value == nil {
		value = []byte{}
	}
	return ttl, value, nil
}

// Delete removes key. A key that has keys below it stays as their implicit parent, without a
// value; implicit parents left empty are removed.
func (s *Store) Delete(ctx context.Context, key string) error {
	key, err := s.normalize(ctx, "delete", key, false)
	if err != nil {
		return err
	}
	path := s.path(key)
	for range maxAttempts {
		var n znode
		n, err = s.get(ctx, path, false)
		if err == nil && n.data == nil {
			err = zk.ErrNoNode
		}
		if err == nil {
			err = s.clearValue(ctx, path, n.stat)
		}
		if !errors.Is(err, zk.ErrBadVersion) {
			break
		}
	}
	if err == nil {
		s.prune(ctx, path)
	}
	return s.wrapErr(ctx, "delete", key, err)
}

// AtomicPut writes value at key if previous is still current (or, with previous nil, if the key
// does not exist). The check is on LastIndex, the node's mzxid; the write is conditional on the
// node's version, which ZooKeeper compares atomically.
func (s *Store) AtomicPut(ctx context.Context, key string, value []byte, previous *kvstore.KVPair, opts *kvstore.WriteOptions) (bool, *kvstore.KVPair, error) {
	key, err := s.normalize(ctx, "atomic put", key, false)
	if err != nil {
		return false, nil, err
	}
	ttl, value, err := checkWrite(opts, value)
	if err != nil {
		return false, nil, fmt.Errorf("zookeeper atomic put %q: %w", key, err)
	}
	var index uint64
	if previous == nil {
		index, err = s.atomicCreate(ctx, s.path(key), value, ttl)
	} else {
		index, err = s.atomicUpdate(ctx, s.path(key), value, ttl, previous.LastIndex)
	}
	if err != nil {
		return false, nil, s.wrapErr(ctx, "atomic put", key, err)
	}
	return true, &kvstore.KVPair{Key: key, Value: bytes.Clone(value), LastIndex: index}, nil
}

// atomicCreate creates the key; an implicit parent at path counts as no key.
func (s *Store) atomicCreate(ctx context.Context, path string, value []byte, ttl time.Duration) (uint64, error) {
	for range maxAttempts {
		err := s.create(ctx, s.sess, path, value, ttl, zk.FlagPersistent)
		if err == nil {
			return s.createdIndex(ctx, path)
		}
		if !errors.Is(err, zk.ErrNodeExists) {
			return 0, err
		}
		n, err := s.inspect(ctx, path, true)
		switch {
		case err != nil:
			return 0, err
		case n == nil:
			continue
		case n.isKey():
			return 0, zk.ErrNodeExists
		}
		index, err := s.update(ctx, path, value, ttl, n)
		if !errors.Is(err, zk.ErrBadVersion) && !errors.Is(err, zk.ErrNoNode) && !errors.Is(err, zk.ErrNodeExists) {
			return index, err
		}
	}
	return 0, zk.ErrBadVersion
}

// atomicUpdate writes the key if its mzxid is still index.
func (s *Store) atomicUpdate(ctx context.Context, path string, value []byte, ttl time.Duration, index uint64) (uint64, error) {
	n, err := s.inspect(ctx, path, true)
	switch {
	case err != nil:
		return 0, err
	case !n.isKey():
		return 0, zk.ErrNoNode
	case uint64(n.stat.Mzxid) != index:
		return 0, zk.ErrBadVersion
	}
	index, err = s.update(ctx, path, value, ttl, n)
	if errors.Is(err, zk.ErrNodeExists) {
		err = zk.ErrBadVersion // re-created by another writer between our delete and create
	}
	return index, err
}

// update writes the existing node n at its version, and returns the new LastIndex.
func (s *Store) update(ctx context.Context, path string, value []byte, ttl time.Duration, n *node) (uint64, error) {
	if !n.fits(ttl) {
		if err := s.replace(ctx, path, value, ttl, n.stat.Version); err != nil {
			return 0, err
		}
		return s.createdIndex(ctx, path)
	}
	stat, err := call(ctx, s.sess, func(c *zk.Conn) (*zk.Stat, error) {
		return c.Set(path, value, n.stat.Version)
	})
	if err != nil {
		return 0, err
	}
	return uint64(stat.Mzxid), nil
}

// AtomicDelete removes key if previous is still current.
func (s *Store) AtomicDelete(ctx context.Context, key string, previous *kvstore.KVPair) (bool, error) {
	key, err := s.normalize(ctx, "atomic delete", key, false)
	if err != nil {
		return false, err
	}
	if previous == nil {
		return false, fmt.Errorf("zookeeper atomic delete %q: %w", key, kvstore.ErrPreviousNotSpecified)
	}
	path := s.path(key)
	n, err := s.get(ctx, path, false)
	switch {
	case err != nil:
	case n.data == nil:
		err = zk.ErrNoNode
	case uint64(n.stat.Mzxid) != previous.LastIndex:
		err = zk.ErrBadVersion
	default:
		err = s.clearValue(ctx, path, n.stat)
	}
	if err != nil {
		return false, s.wrapErr(ctx, "atomic delete", key, err)
	}
	s.prune(ctx, path)
	return true, nil
}
