package valkeyrie

import (
	"context"
	"errors"
	"fmt"

	"github.com/kvtools/valkeyrie/store"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/compat/internal/relay"
)

var _ store.Store = (*Store)(nil)

// Store is a valkeyrie store.Store over a kvstore.Store. It is safe for concurrent use.
type Store struct {
	kv    kvstore.Store
	group *relay.Group
}

// New returns a valkeyrie Store that reads and writes through kv. The Store owns kv: its Close
// closes kv.
func New(kv kvstore.Store) *Store {
	return &Store{kv: kv, group: relay.NewGroup()}
}

// Put writes value at key.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts *store.WriteOptions) error {
	wo, err := writeOptions(opts)
	if err != nil {
		return err
	}
	return mapError(s.kv.Put(ctx, key, value, wo))
}

// Get returns the pair at key, or store.ErrKeyNotFound.
func (s *Store) Get(ctx context.Context, key string, opts *store.ReadOptions) (*store.KVPair, error) {
	pair, err := s.kv.Get(ctx, key, readOptions(opts))
	if err != nil {
		return nil, mapError(err)
	}
	return toPair(pair), nil
}

// Delete removes key; a missing key is store.ErrKeyNotFound.
func (s *Store) Delete(ctx context.Context, key string) error {
	return mapError(s.kv.Delete(ctx, key))
}

// Exists reports whether key exists.
func (s *Store) Exists(ctx context.Context, key string, opts *store.ReadOptions) (bool, error) {
	ok, err := s.kv.Exists(ctx, key, readOptions(opts))
	return ok, mapError(err)
}

// Watch sends the pair at key, then one pair per write and nil per deletion, until ctx ends, the
// watch ends, or the Store is closed; the channel is then closed.
func (s *Store) Watch(ctx context.Context, key string, opts *store.ReadOptions) (<-chan *store.KVPair, error) {
	ctx, cancel := context.WithCancel(ctx)
	in, err := s.kv.Watch(ctx, key, readOptions(opts))
	if err != nil {
		cancel()
		return nil, mapError(err)
	}
	return relay.Forward(s.group, ctx.Done(), in, cancel, toPair)
}

// WatchTree sends the listing below directory, then a new listing after each change, with the
// closing rules of Watch.
func (s *Store) WatchTree(ctx context.Context, directory string, opts *store.ReadOptions) (<-chan []*store.KVPair, error) {
	ctx, cancel := context.WithCancel(ctx)
	in, err := s.kv.WatchTree(ctx, directory, readOptions(opts))
	if err != nil {
		cancel()
		return nil, mapError(err)
	}
	return relay.Forward(s.group, ctx.Done(), in, cancel, toPairs)
}

// NewLock returns a Locker for key; it does not take the lock. opts.DeleteOnUnlock is ignored.
func (s *Store) NewLock(ctx context.Context, key string, opts *store.LockOptions) (store.Locker, error) {
	var lo *kvstore.LockOptions
	if opts != nil {
		lo = &kvstore.LockOptions{Value: opts.Value, TTL: opts.TTL, RenewLock: opts.RenewLock}
	}
	lk, err := s.kv.NewLock(ctx, key, lo)
	if err != nil {
		return nil, mapError(err)
	}
	return locker{lk}, nil
}

// List returns every pair below directory, or store.ErrKeyNotFound when there is none.
func (s *Store) List(ctx context.Context, directory string, opts *store.ReadOptions) ([]*store.KVPair, error) {
	pairs, err := s.kv.List(ctx, directory, readOptions(opts))
	if err != nil {
		return nil, mapError(err)
	}
	return toPairs(pairs), nil
}

// DeleteTree removes directory and every key below it.
func (s *Store) DeleteTree(ctx context.Context, directory string) error {
	return mapError(s.kv.DeleteTree(ctx, directory))
}

// AtomicPut writes value at key if the key is still previous (or, previous nil, does not exist).
func (s *Store) AtomicPut(ctx context.Context, key string, value []byte, previous *store.KVPair, opts *store.WriteOptions) (bool, *store.KVPair, error) {
	wo, err := writeOptions(opts)
	if err != nil {
		return false, nil, err
	}
	ok, pair, err := s.kv.AtomicPut(ctx, key, value, fromPair(previous), wo)
	if err != nil {
		return false, nil, mapError(err)
	}
	return ok, toPair(pair), nil
}

// AtomicDelete removes key if it is still previous.
func (s *Store) AtomicDelete(ctx context.Context, key string, previous *store.KVPair) (bool, error) {
	ok, err := s.kv.AtomicDelete(ctx, key, fromPair(previous))
	return ok, mapError(err)
}

// Close closes the kvstore.Store, which ends its watches and releases its locks, and waits for
// the goroutines that forward watches.
func (s *Store) Close() error {
	err := s.kv.Close()
	s.group.Close()
	return err
}

// locker is a valkeyrie store.Locker over a kvstore.Locker.
type locker struct{ lk kvstore.Locker }

// Lock waits for the lock until ctx ends.
func (l locker) Lock(ctx context.Context) (<-chan struct{}, error) {
	lost, err := l.lk.Lock(ctx)
	return lost, mapError(err)
}

// Unlock releases the lock.
func (l locker) Unlock(ctx context.Context) error {
	return mapError(l.lk.Unlock(ctx))
}

// sentinels pairs each kvstore error with the valkeyrie sentinel that stands for it.
var sentinels = []struct{ kvstore, valkeyrie error }{
	{kvstore.ErrKeyNotFound, store.ErrKeyNotFound},
	{kvstore.ErrKeyExists, store.ErrKeyExists},
	{kvstore.ErrKeyModified, store.ErrKeyModified},
	{kvstore.ErrPreviousNotSpecified, store.ErrPreviousNotSpecified},
	{kvstore.ErrCallNotSupported, store.ErrCallNotSupported},
	{kvstore.ErrUnreachable, store.ErrNotReachable},
}

// mapError returns valkeyrie's sentinel for err, unwrapped as valkeyrie's stores return it (its
// test suite compares with ==), or err itself when valkeyrie has no sentinel for it.
func mapError(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s.kvstore) {
			return s.valkeyrie
		}
	}
	return err
}

func writeOptions(o *store.WriteOptions) (*kvstore.WriteOptions, error) {
	if o == nil {
		return nil, nil
	}
	if o.KeepAlive {
		return nil, fmt.Errorf("kvstore valkeyrie adapter: WriteOptions.KeepAlive: %w", store.ErrCallNotSupported)
	}
	return &kvstore.WriteOptions{IsDir: o.IsDir, TTL: o.TTL}, nil
}

func readOptions(o *store.ReadOptions) *kvstore.ReadOptions {
	if o == nil {
		return nil
	}
	return &kvstore.ReadOptions{Consistent: o.Consistent}
}

func toPair(p *kvstore.KVPair) *store.KVPair {
	if p == nil {
		return nil
	}
	return &store.KVPair{Key: p.Key, Value: p.Value, LastIndex: p.LastIndex}
}

func fromPair(p *store.KVPair) *kvstore.KVPair {
	if p == nil {
		return nil
	}
	return &kvstore.KVPair{Key: p.Key, Value: p.Value, LastIndex: p.LastIndex}
}

// toPairs keeps an empty listing non-nil, as kvstore's WatchTree sends it.
func toPairs(ps []*kvstore.KVPair) []*store.KVPair {
	out := make([]*store.KVPair, len(ps))
	for i, p := range ps {
		out[i] = toPair(p)
	}
	return out
}
