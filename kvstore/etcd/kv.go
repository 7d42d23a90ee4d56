package etcd

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Reads are always linearizable: ReadOptions.Consistent asks for nothing more. A serializable
// read could come from a lagging member and hide the caller's own last write.

// Put implements kvstore.Store. A TTL is a lease of its own, granted for whole seconds (at least
// etcd's minimum lease TTL) and never kept alive, so the key expires while the writer stays
// connected.
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
		leaseOpts, err := s.ttlLease(ctx, ttl)
		if err != nil {
			return err
		}
		_, err = s.client.Put(ctx, userKey(canonical), string(value), leaseOpts...)
		return err
	})
}

// ttlLease grants the lease of a write with a TTL; no TTL needs no lease, and a write without a
// lease detaches the key from the lease of an earlier write, which makes it permanent.
func (s *Store) ttlLease(ctx context.Context, ttl time.Duration) ([]clientv3.OpOption, error) {
	if ttl == 0 {
		return nil, nil
	}
	lease, err := s.client.Grant(ctx, leaseSeconds(ttl))
	if err != nil {
		return nil, err
	}
	return []clientv3.OpOption{clientv3.WithLease(lease.ID)}, nil
}

// leaseSeconds rounds a TTL up to the whole seconds a lease is granted for. The server raises it
// further to its own minimum (see doc.go).
func leaseSeconds(ttl time.Duration) int64 {
	return max(1, int64((ttl+time.Second-1)/time.Second))
}

// Get implements kvstore.Store.
func (s *Store) Get(ctx context.Context, key string, _ *kvstore.ReadOptions) (*kvstore.KVPair, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return nil, err
	}
	var resp *clientv3.GetResponse
	err = s.call(ctx, "get", canonical, func(ctx context.Context) (err error) {
		resp, err = s.client.Get(ctx, userKey(canonical))
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("etcd get %q: %w", canonical, kvstore.ErrKeyNotFound)
	}
	return newPair(canonical, resp.Kvs[0]), nil
}

// Delete implements kvstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	canonical, err := s.normalize(key)
	if err != nil {
		return err
	}
	var resp *clientv3.DeleteResponse
	err = s.call(ctx, "delete", canonical, func(ctx context.Context) (err error) {
		resp, err = s.client.Delete(ctx, userKey(canonical))
		return err
	})
	if err == nil && resp.Deleted == 0 {
		err = fmt.Errorf("etcd delete %q: %w", canonical, kvstore.ErrKeyNotFound)
	}
	return err
}

// Exists implements kvstore.Store.
func (s *Store) Exists(ctx context.Context, key string, _ *kvstore.ReadOptions) (bool, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return false, err
	}
	var resp *clientv3.GetResponse
	err = s.call(ctx, "exists", canonical, func(ctx context.Context) (err error) {
		resp, err = s.client.Get(ctx, userKey(canonical), clientv3.WithCountOnly())
		return err
	})
	return err == nil && resp.Count > 0, err
}

// List implements kvstore.Store: one range over "/dir/", read in the same transaction as dir
// itself so that "only dir exists" and "nothing exists" are told apart at one revision.
func (s *Store) List(ctx context.Context, directory string, _ *kvstore.ReadOptions) ([]*kvstore.KVPair, error) {
	dir, err := s.normalizeDir(directory)
	if err != nil {
		return nil, err
	}
	ops := []clientv3.Op{clientv3.OpGet(dirPrefix(dir), clientv3.WithPrefix())}
	if dir != "" {
		ops = append(ops, clientv3.OpGet(userKey(dir), clientv3.WithCountOnly()))
	}
	var resp *clientv3.TxnResponse
	err = s.call(ctx, "list", dir, func(ctx context.Context) (err error) {
		resp, err = s.client.Txn(ctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return nil, err
	}
	pairs := newPairs(resp.Responses[0].GetResponseRange().Kvs)
	if len(pairs) == 0 && (dir == "" || resp.Responses[1].GetResponseRange().Count == 0) {
		return nil, fmt.Errorf("etcd list %q: %w", dir, kvstore.ErrKeyNotFound)
	}
	return pairs, nil
}

// DeleteTree implements kvstore.Store. Lock bookkeeping is outside "/" and never touched; a
// lock key inside the tree is deleted, which its holder observes as the loss of the lock.
func (s *Store) DeleteTree(ctx context.Context, directory string) error {
	dir, err := s.normalizeDir(directory)
	if err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpDelete(dirPrefix(dir), clientv3.WithPrefix())}
	if dir != "" {
		ops = append(ops, clientv3.OpDelete(userKey(dir)))
	}
	return s.call(ctx, "delete tree", dir, func(ctx context.Context) error {
		_, err := s.client.Txn(ctx).Then(ops...).Commit()
		return err
	})
}

// newPair converts a stored key/value; LastIndex is its ModRevision, which etcd never sets to 0,
// raises on every write and keeps across restarts.
func newPair(canonical string, kv *mvccpb.KeyValue) *kvstore.KVPair {
	value := kv.Value
	if value == nil {
		value = []byte{}
	}
	return &kvstore.KVPair{Key: canonical, Value: value, LastIndex: uint64(kv.ModRevision)}
}

// newPairs converts a range response, which etcd sorts by key, skipping keys that are not in the
// canonical layout (see canonicalKey). The slice is never nil.
func newPairs(kvs []*mvccpb.KeyValue) []*kvstore.KVPair {
	pairs := make([]*kvstore.KVPair, 0, len(kvs))
	for _, kv := range kvs {
		if canonical, ok := canonicalKey(kv.Key); ok {
			pairs = append(pairs, newPair(canonical, kv))
		}
	}
	return pairs
}

// clonePair copies a pair so that a receiver modifying what it got cannot alter the Store's state.
func clonePair(p *kvstore.KVPair) *kvstore.KVPair {
	return &kvstore.KVPair{Key: p.Key, Value: bytes.Clone(p.Value), LastIndex: p.LastIndex}
}
