package etcd

import (
	"bytes"
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvmirror/kvmirror/kvstore"
)

// AtomicPut implements kvstore.Store with one transaction: the comparison and the write happen
// at one revision, and on failure the same transaction reads whether the key exists, which tells
// ErrKeyNotFound from ErrKeyModified without a second, racy request.
func (s *Store) AtomicPut(ctx context.Context, key string, value []byte, previous *kvstore.KVPair, opts *kvstore.WriteOptions) (bool, *kvstore.KVPair, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return false, nil, err
	}
	ttl, err := kvstore.CheckWrite(opts)
	if err != nil {
		return false, nil, err
	}
	k := s.keys.userKey(canonical)
	var resp *clientv3.TxnResponse
	err = s.call(ctx, "atomic put", canonical, func(ctx context.Context) error {
		leaseOpts, err := s.ttlLease(ctx, ttl)
		if err != nil {
			return err
		}
		resp, err = s.client.Txn(ctx).
			If(matches(k, previous)...).
			Then(clientv3.OpPut(k, string(value), leaseOpts...)).
			Else(clientv3.OpGet(k, clientv3.WithCountOnly())).
			Commit()
		return err
	})
	if err != nil {
		return false, nil, err
	}
	if !resp.Succeeded {
		return false, nil, mismatch("atomic put", canonical, previous, resp)
	}
	if value == nil {
		value = []byte{}
	}
	// The transaction's revision is the ModRevision of the key it wrote.
	return true, &kvstore.KVPair{Key: canonical, Value: bytes.Clone(value), LastIndex: uint64(resp.Header.Revision)}, nil
}

// AtomicDelete implements kvstore.Store, in one transaction as AtomicPut.
func (s *Store) AtomicDelete(ctx context.Context, key string, previous *kvstore.KVPair) (bool, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return false, err
	}
	if previous == nil {
		return false, fmt.Errorf("etcd atomic delete %q: %w", canonical, kvstore.ErrPreviousNotSpecified)
	}
	k := s.keys.userKey(canonical)
	var resp *clientv3.TxnResponse
	err = s.call(ctx, "atomic delete", canonical, func(ctx context.Context) (err error) {
		resp, err = s.client.Txn(ctx).
			If(matches(k, previous)...).
			Then(clientv3.OpDelete(k)).
			Else(clientv3.OpGet(k, clientv3.WithCountOnly())).
			Commit()
		return err
	})
	if err != nil {
		return false, err
	}
	if !resp.Succeeded {
		return false, mismatch("atomic delete", canonical, previous, resp)
	}
	return true, nil
}

// matches is the comparison for "the key is as previous saw it"; previous nil means "absent".
// The Version test keeps a LastIndex of 0 from matching a missing key, whose ModRevision is 0.
func matches(k string, previous *kvstore.KVPair) []clientv3.Cmp {
	if previous == nil {
		return []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(k), "=", 0)}
	}
	return []clientv3.Cmp{
		clientv3.Compare(clientv3.Version(k), ">", 0),
		clientv3.Compare(clientv3.ModRevision(k), "=", int64(previous.LastIndex)),
	}
}

// mismatch explains a failed comparison from the count read in the transaction's else branch.
func mismatch(op, canonical string, previous *kvstore.KVPair, resp *clientv3.TxnResponse) error {
	exists := resp.Responses[0].GetResponseRange().Count > 0
	switch {
	case previous == nil:
		return fmt.Errorf("etcd %s %q: %w", op, canonical, kvstore.ErrKeyExists)
	case !exists:
		return fmt.Errorf("etcd %s %q: %w", op, canonical, kvstore.ErrKeyNotFound)
	default:
		return fmt.Errorf("etcd %s %q: %w", op, canonical, kvstore.ErrKeyModified)
	}
}
