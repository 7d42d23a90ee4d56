package etcdv2

import (
	"context"
	"errors"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Put implements kvstore.Store. A TTL is etcd's own, rounded up to whole seconds (the v2 API
// counts in seconds); a Put without TTL replaces the node by a permanent one.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts *kvstore.WriteOptions) error {
	canonical, err := s.normalize(key)
	if err != nil {
		return err
	}
	ttl, err := kvstore.CheckWrite(opts)
	if err != nil {
		return err
	}
	return s.call(ctx, "put", canonical, func(ctx context.Context) error {
		_, err := s.keys.Set(ctx, leafPath(canonical), encodeValue(value), &client.SetOptions{TTL: seconds(ttl)})
		return err
	})
}

// seconds rounds a TTL up to whole seconds, the v2 API's unit, so that a key never expires
// before its TTL; zero stays zero (no TTL).
func seconds(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 0
	}
	return (ttl + time.Second - 1).Truncate(time.Second)
}

// Get implements kvstore.Store. opts.Consistent makes the read a quorum read.
func (s *Store) Get(ctx context.Context, key string, opts *kvstore.ReadOptions) (*kvstore.KVPair, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return nil, err
	}
	var pair *kvstore.KVPair
	err = s.call(ctx, "get", canonical, func(ctx context.Context) error {
		var err error
		pair, _, err = s.read(ctx, canonical, kvstore.IsConsistent(opts))
		if err == nil && pair == nil {
			return client.Error{Code: client.ErrorCodeKeyNotFound, Message: "Key not found"}
		}
		return err
	})
	return pair, err
}

// read returns the pair of a canonical key, nil if it does not exist, and etcd's index at the
// time of the read, from which a watch can follow without missing a write.
func (s *Store) read(ctx context.Context, canonical string, quorum bool) (*kvstore.KVPair, uint64, error) {
	resp, err := s.keys.Get(ctx, leafPath(canonical), &client.GetOptions{Quorum: quorum})
	if absent(err) {
		index, _ := errIndex(err)
		return nil, index, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if resp.Node.Dir {
		// Only another v2 client makes a directory named like a value file.
		return nil, resp.Index, nil
	}
	return newPair(canonical, resp.Node), resp.Index, nil
}

// absent reports whether a read error means that the key does not exist: not found, or a
// foreign file in the way of the key's directory (see ErrForeignNode).
func absent(err error) bool {
	return isCode(err, client.ErrorCodeKeyNotFound) || isCode(err, client.ErrorCodeNotDir) ||
		isCode(err, client.ErrorCodeNotFile)
}

func newPair(canonical string, node *client.Node) *kvstore.KVPair {
	return &kvstore.KVPair{Key: canonical, Value: decodeValue(node.Value), LastIndex: node.ModifiedIndex}
}

// Exists implements kvstore.Store.
func (s *Store) Exists(ctx context.Context, key string, opts *kvstore.ReadOptions) (bool, error) {
	_, err := s.Get(ctx, key, opts)
	if errors.Is(err, kvstore.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete implements kvstore.Store. Only the key's value file goes; keys below it stay. The
// directories this leaves empty are removed too, so that keys that come and go leave nothing
// behind.
func (s *Store) Delete(ctx context.Context, key string) error {
	canonical, err := s.normalize(key)
	if err != nil {
		return err
	}
	return s.call(ctx, "delete", canonical, func(ctx context.Context) error {
		_, err := s.keys.Delete(ctx, leafPath(canonical), nil)
		if isCode(err, client.ErrorCodeNotDir) {
			return client.Error{Code: client.ErrorCodeKeyNotFound, Message: "Key not found"}
		}
		if err == nil {
			s.prune(ctx, nodePath(canonical), "/")
		}
		return err
	})
}

// AtomicPut implements kvstore.Store: a create is etcd's prevExist=false, an update its
// prevIndex comparison, both with the TTL of opts.
func (s *Store) AtomicPut(ctx context.Context, key string, value []byte, previous *kvstore.KVPair, opts *kvstore.WriteOptions) (bool, *kvstore.KVPair, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return false, nil, err
	}
	ttl, err := kvstore.CheckWrite(opts)
	if err != nil {
		return false, nil, err
	}
	set := &client.SetOptions{TTL: seconds(ttl), PrevExist: client.PrevNoExist}
	if previous != nil {
		set = &client.SetOptions{TTL: seconds(ttl), PrevIndex: previous.LastIndex}
	}
	var pair *kvstore.KVPair
	err = s.call(ctx, "atomic put", canonical, func(ctx context.Context) error {
		if previous != nil && previous.LastIndex == 0 {
			// prevIndex=0 means "no comparison" to etcd; no stored pair has index 0.
			return s.mismatch(ctx, canonical)
		}
		resp, err := s.keys.Set(ctx, leafPath(canonical), encodeValue(value), set)
		if err != nil {
			return err
		}
		pair = newPair(canonical, resp.Node)
		return nil
	})
	if err != nil {
		return false, nil, err
	}
	return true, pair, nil
}

// AtomicDelete implements kvstore.Store with etcd's prevIndex comparison.
func (s *Store) AtomicDelete(ctx context.Context, key string, previous *kvstore.KVPair) (bool, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return false, err
	}
	if previous == nil {
		return false, kvstore.ErrPreviousNotSpecified
	}
	err = s.call(ctx, "atomic delete", canonical, func(ctx context.Context) error {
		if previous.LastIndex == 0 {
			return s.mismatch(ctx, canonical)
		}
		_, err := s.keys.Delete(ctx, leafPath(canonical), &client.DeleteOptions{PrevIndex: previous.LastIndex})
		if isCode(err, client.ErrorCodeNotDir) {
			return client.Error{Code: client.ErrorCodeKeyNotFound, Message: "Key not found"}
		}
		if err == nil {
			s.prune(ctx, nodePath(canonical), "/")
		}
		return err
	})
	return err == nil, err
}

// mismatch is the error of an atomic call whose previous pair cannot match: not found when the
// key is missing, modified otherwise.
func (s *Store) mismatch(ctx context.Context, canonical string) error {
	pair, _, err := s.read(ctx, canonical, true)
	switch {
	case err != nil:
		return err
	case pair == nil:
		return client.Error{Code: client.ErrorCodeKeyNotFound, Message: "Key not found"}
	default:
		return client.Error{Code: client.ErrorCodeTestFailed, Message: "Compare failed"}
	}
}

// prune removes dir and its ancestors up to, not including, stop, as long as they are empty.
// Without it every deleted key would leave its directory behind for good, and a store whose
// keys come and go would grow without end. It is safe against concurrent writers: etcd deletes
// a directory without recursive=true only while it is empty, atomically, and a write below it
// recreates it. Failures are not the caller's concern: the first one (a directory that is not
// empty, as a rule) ends the walk.
func (s *Store) prune(ctx context.Context, dir, stop string) {
	for ; dir != stop && dir != "/" && dir != "."; dir = parentDir(dir) {
		if _, err := s.keys.Delete(ctx, dir, &client.DeleteOptions{Dir: true}); err != nil {
			return
		}
	}
}
