package libkv

import (
	"context"
	"errors"

	"github.com/docker/libkv/store"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/compat/internal/relay"
)

var _ store.Store = (*Store)(nil)

// Store is a libkv store.Store over a kvstore.Store. It is safe for concurrent use.
type Store struct {
	kv    kvstore.Store
	group *relay.Group
}

// New returns a libkv Store that reads and writes through kv. The Store owns kv: its Close closes
// kv.
func New(kv kvstore.Store) *Store {
	return &Store{kv: kv, group: relay.NewGroup()}
}

// Put writes value at key.
func (s *Store) Put(key string, value []byte, options *store.WriteOptions) error {
	return mapError(s.kv.Put(context.Background(), key, value, writeOptions(options)))
}

// Get returns the pair at key, or store.ErrKeyNotFound.
func (s *Store) Get(key string) (*store.KVPair, error) {
	pair, err := s.kv.Get(context.Background(), key, nil)
	if err != nil {
		return nil, mapError(err)
	}
	return toPair(pair), nil
}

// Delete removes key; a missing key is store.ErrKeyNotFound.
func (s *Store) Delete(key string) error {
	return mapError(s.kv.Delete(context.Background(), key))
}

// Exists reports whether key exists.
func (s *Store) Exists(key string) (bool, error) {
	ok, err := s.kv.Exists(context.Background(), key, nil)
	return ok, mapError(err)
}

// Watch sends the pair at key, then one pair per write and nil per deletion, until stopCh
// receives or is closed, the watch ends, or the Store is closed; the channel is then closed.
func (s *Store) Watch(key string, stopCh <-chan struct{}) (<-chan *store.KVPair, error) {
	ctx, cancel := context.WithCancel(context.Background())
	in, err := s.kv.Watch(ctx, key, nil)
	if err != nil {
		cancel()
		return nil, mapError(err)
	}
	return relay.Forward(s.group, stopCh, in, cancel, toPair)
}

// WatchTree sends the listing below directory, then a new listing after each change, with the
// closing rules of Watch.
func (s *Store) WatchTree(directory string, stopCh <-chan struct{}) (<-chan []*store.KVPair, error) {
	ctx, cancel := context.WithCancel(context.Background())
	in, err := s.kv.WatchTree(ctx, directory, nil)
	if err != nil {
		cancel()
		return nil, mapError(err)
	}
	return relay.Forward(s.group, stopCh, in, cancel, toPairs)
}

// NewLock returns a Locker for key; it does not take the lock.
func (s *Store) NewLock(key string, options *store.LockOptions) (store.Locker, error) {
	var opts *kvstore.LockOptions
	if options != nil {
		opts = &kvstore.LockOptions{Value: options.Value, TTL: options.TTL, RenewLock: options.RenewLock}
	}
	lk, err := s.kv.NewLock(context.Background(), key, opts)
	if err != nil {
		return nil, mapError(err)
	}
	return &locker{lk: lk, group: s.group}, nil
}

// List returns every pair below directory, or store.ErrKeyNotFound when there is none.
func (s *Store) List(directory string) ([]*store.KVPair, error) {
	pairs, err := s.kv.List(context.Background(), directory, nil)
	if err != nil {
		return nil, mapError(err)
	}
	return toPairs(pairs), nil
}

// DeleteTree removes directory and every key below it.
func (s *Store) DeleteTree(directory string) error {
	return mapError(s.kv.DeleteTree(context.Background(), directory))
}

// AtomicPut writes value at key if the key is still previous (or, previous nil, does not exist).
func (s *Store) AtomicPut(key string, value []byte, previous *store.KVPair, options *store.WriteOptions) (bool, *store.KVPair, error) {
	ok, pair, err := s.kv.AtomicPut(context.Background(), key, value, fromPair(previous), writeOptions(options))
	if err != nil {
		return false, nil, mapError(err)
	}
	return ok, toPair(pair), nil
}

// AtomicDelete removes key if it is still previous.
func (s *Store) AtomicDelete(key string, previous *store.KVPair) (bool, error) {
	ok, err := s.kv.AtomicDelete(context.Background(), key, fromPair(previous))
	return ok, mapError(err)
}

// Close closes the kvstore.Store, which ends its watches and releases its locks, and waits for
// the Store's own goroutines. libkv's Close reports no error, so the kvstore.Store's is dropped.
func (s *Store) Close() {
	_ = s.kv.Close()
	s.group.Close()
}

// locker is a libkv store.Locker over a kvstore.Locker.
type locker struct {
	lk    kvstore.Locker
	group *relay.Group
}

// Lock waits for the lock until stopChan receives or is closed, or the Store is closed.
func (l *locker) Lock(stopChan chan struct{}) (<-chan struct{}, error) {
	ctx, release, err := l.group.Bind(stopChan)
	if err != nil {
		return nil, err
	}
	defer release()
	lost, err := l.lk.Lock(ctx)
	return lost, mapError(err)
}

// Unlock releases the lock.
func (l *locker) Unlock() error {
	return mapError(l.lk.Unlock(context.Background()))
}

// sentinels pairs each kvstore error with the libkv sentinel that stands for it.
var sentinels = []struct{ kvstore, libkv error }{
	{kvstore.ErrKeyNotFound, store.ErrKeyNotFound},
	{kvstore.ErrKeyExists, store.ErrKeyExists},
	{kvstore.ErrKeyModified, store.ErrKeyModified},
	{kvstore.ErrPreviousNotSpecified, store.ErrPreviousNotSpecified},
	{kvstore.ErrCallNotSupported, store.ErrCallNotSupported},
	{kvstore.ErrUnreachable, store.ErrNotReachable},
}

// mapError returns libkv's sentinel for err, unwrapped because libkv's callers and its own test
// suite compare errors with ==, or err itself when libkv has no sentinel for it.
func mapError(err error) error {
	for _, s := range sentinels {
		if errors.Is(err, s.kvstore) {
			return s.libkv
		}
	}
	return err
}

func writeOptions(o *store.WriteOptions) *kvstore.WriteOptions {
	if o == nil {
		return nil
	}
	return &kvstore.WriteOptions{IsDir: o.IsDir, TTL: o.TTL}
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
