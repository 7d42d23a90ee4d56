package etcd

import (
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
		_, err = s.client.Put(ctx, s.keys.userKey(canonical), string(value), leaseOpts...)
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
		resp, err = s.client.Get(ctx, s.keys.userKey(canonical))
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
		resp, err = s.client.Delete(ctx, s.keys.userKey(canonical))
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
		resp, err = s.client.Get(ctx, s.keys.userKey(canonical), clientv3.WithCountOnly())
		return err
	})
	return err == nil && resp.Count > 0, err
}

// List implements kvstore.Store: the ranges below dir (see dirRanges), read in the same
// transaction as dir itself so that "only dir exists" and "nothing exists" are told apart at one
// revision.
func (s *Store) List(ctx context.Context, directory string, _ *kvstore.ReadOptions) ([]*kvstore.KVPair, error) {
	dir, err := s.normalizeDir(directory)
	if err != nil {
		return nil, err
	}
	ranges := s.keys.dirRanges(dir)
	ops := rangeGets(ranges)
	if dir != "" {
		ops = append(ops, clientv3.OpGet(s.keys.userKey(dir), clientv3.WithCountOnly()))
	}
	var resp *clientv3.TxnResponse
	err = s.call(ctx, "list", dir, func(ctx context.Context) (err error) {
		resp, err = s.client.Txn(ctx).Then(ops...).Commit()
		return err
	})
	if err != nil {
		return nil, err
	}
	pairs := s.keys.newPairs(rangeKvs(resp, len(ranges)))
	if len(pairs) == 0 && (dir == "" || resp.Responses[len(ranges)].GetResponseRange().Count == 0) {
		return nil, fmt.Errorf("etcd list %q: %w", dir, kvstore.ErrKeyNotFound)
	}
	return pairs, nil
}

// DeleteTree implements kvstore.Store. Lock bookkeeping is outside every user range and never
// touched; a lock key inside the tree is deleted, which its holder observes as the loss of the
// lock.
func (s *Store) DeleteTree(ctx context.Context, directory string) error {
	dir, err := s.normalizeDir(directory)
	if err != nil {
		return err
	}
	var ops []clientv3.Op
	for _, r := range s.keys.dirRanges(dir) {
		ops = append(ops, clientv3.OpDelete(r.key, clientv3.WithRange(r.end)))
	}
	if dir != "" {
		ops = append(ops, clientv3.OpDelete(s.keys.userKey(dir)))
	}
	return s.call(ctx, "delete tree", dir, func(ctx context.Context) error {
		_, err := s.client.Txn(ctx).Then(ops...).Commit()
		return err
	})
}

// rangeGets returns one read per range, for a transaction.
func rangeGets(ranges []keyRange) []clientv3.Op {
	ops := make([]clientv3.Op, 0, len(ranges)+1)
	for _, r := range ranges {
		ops = append(ops, clientv3.OpGet(r.key, clientv3.WithRange(r.end)))
	}
	return ops
}

// rangeKvs joins what the first n reads of a transaction returned. etcd sorts each range by key,
// and dirRanges are ascending, so the result is sorted too.
func rangeKvs(resp *clientv3.TxnResponse, n int) []*mvccpb.KeyValue {
	var kvs []*mvccpb.KeyValue
	for _, r := range resp.Responses[:n] {
		kvs = append(kvs, r.GetResponseRange().Kvs...)
	}
	return kvs
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

// newPairs converts sorted key/values, skipping keys that are not canonical keys of the layout
// (see canonicalKey). The slice is never nil.
func (l layout) newPairs(kvs []*mvccpb.KeyValue) []*kvstore.KVPair {
	pairs := make([]*kvstore.KVPair, 0, len(kvs))
	for _, kv := range kvs {
		if canonical, ok := l.canonicalKey(kv.Key); ok {
			pairs = append(pairs, newPair(canonical, kv))
		}
	}
	return pairs
}
