package kvtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/kvmirror/kvmirror/kvstore"
)

// refusing declares TTLs, locks and watches unsupported, as the contract wants such a backend to.
type refusing struct{ kvstore.Store }

func (r refusing) Put(ctx context.Context, key string, value []byte, opts *kvstore.WriteOptions) error {
	if _, err := kvstore.CheckWrite(opts); err != nil {
		return err
	}
	if opts != nil && opts.TTL > 0 {
		return fmt.Errorf("refusing: TTL: %w", kvstore.ErrCallNotSupported)
	}
	return r.Store.Put(ctx, key, value, opts)
}

func (r refusing) AtomicPut(ctx context.Context, key string, value []byte, previous *kvstore.KVPair, opts *kvstore.WriteOptions) (bool, *kvstore.KVPair, error) {
	if _, err := kvstore.CheckWrite(opts); err != nil {
		return false, nil, err
	}
	if opts != nil && opts.TTL > 0 {
		return false, nil, fmt.Errorf("refusing: TTL: %w", kvstore.ErrCallNotSupported)
	}
	return r.Store.AtomicPut(ctx, key, value, previous, opts)
}

func (r refusing) Watch(context.Context, string, *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	return nil, kvstore.ErrCallNotSupported
}

func (r refusing) WatchTree(context.Context, string, *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error) {
	return nil, kvstore.ErrCallNotSupported
}

func (r refusing) NewLock(context.Context, string, *kvstore.LockOptions) (kvstore.Locker, error) {
	return nil, kvstore.ErrCallNotSupported
}

// The faults below each reproduce one fault a libkv or valkeyrie backend had, on top of the
// reference Store; TestFaults checks that the suite test guarding against it fails.

// oneLevelList lists direct children only, as libkv's etcd v3 List did.
type oneLevelList struct{ kvstore.Store }

func (s oneLevelList) List(ctx context.Context, dir string, opts *kvstore.ReadOptions) ([]*kvstore.KVPair, error) {
	pairs, err := s.Store.List(ctx, dir, opts)
	canonical := kvstore.Canonical(dir)
	kept := pairs[:0:0]
	for _, p := range pairs {
		if !strings.Contains(strings.TrimPrefix(p.Key, canonical+"/"), "/") {
			kept = append(kept, p)
		}
	}
	return kept, err
}

// prefixList lists by raw string prefix, as libkv's Consul and BoltDB backends did.
type prefixList struct{ kvstore.Store }

func (s prefixList) List(ctx context.Context, dir string, opts *kvstore.ReadOptions) ([]*kvstore.KVPair, error) {
	all, err := s.Store.List(ctx, "", opts)
	if err != nil {
		return nil, err
	}
	var pairs []*kvstore.KVPair
	for _, p := range all {
		if strings.HasPrefix(p.Key, kvstore.Canonical(dir)) && p.Key != kvstore.Canonical(dir) {
			pairs = append(pairs, p)
		}
	}
	if len(pairs) == 0 {
		return nil, kvstore.ErrKeyNotFound
	}
	return pairs, nil
}

// filterWatch forwards the inner watch's events that keep accepts.
func filterWatch(in <-chan *kvstore.KVPair, keep func(prev, next *kvstore.KVPair) bool) <-chan *kvstore.KVPair {
	out := make(chan *kvstore.KVPair)
	go func() {
		defer close(out)
		var prev *kvstore.KVPair
		for p := range in {
			if keep(prev, p) {
				out <- p
			}
			prev = p
		}
	}()
	return out
}

// watchDropsDeletes never reports a delete, as libkv's Consul watches did.
type watchDropsDeletes struct{ kvstore.Store }

func (s watchDropsDeletes) Watch(ctx context.Context, key string, opts *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	in, err := s.Store.Watch(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	return filterWatch(in, func(_, p *kvstore.KVPair) bool { return p != nil }), nil
}

// watchSkipsSameValue drops writes that did not change the value, as value-comparing watches do.
type watchSkipsSameValue struct{ kvstore.Store }

func (s watchSkipsSameValue) Watch(ctx context.Context, key string, opts *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	in, err := s.Store.Watch(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	return filterWatch(in, func(prev, p *kvstore.KVPair) bool {
		return prev == nil || p == nil || !bytes.Equal(prev.Value, p.Value)
	}), nil
}

// watchIgnoresCancel closes its channel only when the Store closes, like libkv's Consul watch,
// which saw its stop channel only between 15 s blocking queries.
type watchIgnoresCancel struct{ kvstore.Store }

func (s watchIgnoresCancel) Watch(ctx context.Context, key string, opts *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	return s.Store.Watch(context.WithoutCancel(ctx), key, opts)
}

// treeTopLevelOnly reports changes of direct children only, as libkv's ZooKeeper WatchTree did.
type treeTopLevelOnly struct{ kvstore.Store }

func (s treeTopLevelOnly) WatchTree(ctx context.Context, dir string, opts *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error) {
	in, err := s.Store.WatchTree(ctx, dir, opts)
	if err != nil {
		return nil, err
	}
	out := make(chan []*kvstore.KVPair)
	go func() {
		defer close(out)
		last := "-"
		for snap := range in {
			var top []string
			for _, p := range snap {
				if rest := strings.TrimPrefix(p.Key, kvstore.Canonical(dir)+"/"); !strings.Contains(rest, "/") {
					top = append(top, p.Key+"="+string(p.Value))
				}
			}
			if now := strings.Join(top, ","); now != last {
				last = now
				out <- snap
			}
		}
	}()
	return out, nil
}

// nonCanonicalKeys returns keys with a leading slash, as spelled by a caller, like libkv's Get.
type nonCanonicalKeys struct{ kvstore.Store }

func (s nonCanonicalKeys) Get(ctx context.Context, key string, opts *kvstore.ReadOptions) (*kvstore.KVPair, error) {
	pair, err := s.Store.Get(ctx, key, opts)
	if pair != nil {
		pair.Key = "/" + pair.Key
	}
	return pair, err
}

// untypedErrors reports a missing key with the server's own error, as libkv's etcd v2 did.
type untypedErrors struct{ kvstore.Store }

func (s untypedErrors) Get(ctx context.Context, key string, opts *kvstore.ReadOptions) (*kvstore.KVPair, error) {
	pair, err := s.Store.Get(ctx, key, opts)
	if errors.Is(err, kvstore.ErrKeyNotFound) {
		return nil, errors.New("100: Key not found")
	}
	return pair, err
}

// atomicPutOverwrites treats a nil previous as a plain Put: a create that overwrites.
type atomicPutOverwrites struct{ kvstore.Store }

func (s atomicPutOverwrites) AtomicPut(ctx context.Context, key string, value []byte, previous *kvstore.KVPair, opts *kvstore.WriteOptions) (bool, *kvstore.KVPair, error) {
	if previous == nil {
		if err := s.Put(ctx, key, value, opts); err != nil {
			return false, nil, err
		}
		pair, err := s.Get(ctx, key, nil)
		return err == nil, pair, err
	}
	return s.Store.AtomicPut(ctx, key, value, previous, opts)
}

// ttlIgnored drops the TTL, as libkv's BoltDB did silently.
type ttlIgnored struct{ kvstore.Store }

func (s ttlIgnored) Put(ctx context.Context, key string, value []byte, opts *kvstore.WriteOptions) error {
	if opts != nil && opts.TTL > 0 {
		opts = nil
	}
	return s.Store.Put(ctx, key, value, opts)
}

// lockWrapper lets a fault replace the Locker.
type lockWrapper struct {
	kvstore.Store
	wrap func(kvstore.Store, kvstore.Locker, string, *kvstore.LockOptions) kvstore.Locker
}

func (s lockWrapper) NewLock(ctx context.Context, key string, opts *kvstore.LockOptions) (kvstore.Locker, error) {
	lock, err := s.Store.NewLock(ctx, key, opts)
	if err != nil {
		return nil, err
	}
	return s.wrap(s.Store, lock, key, opts), nil
}

// nilNilLock returns nil, nil when its ctx ends, as libkv's Lock did on its stop channel.
type nilNilLock struct{ kvstore.Locker }

func (l nilNilLock) Lock(ctx context.Context) (<-chan struct{}, error) {
	lost, err := l.Locker.Lock(ctx)
	if ctx.Err() != nil {
		return nil, nil
	}
	return lost, err
}

// deafLock closes its lost channel on Unlock only, as libkv's ZooKeeper locks never signalled loss.
type deafLock struct {
	kvstore.Locker
	lost chan struct{}
}

func (l *deafLock) Lock(ctx context.Context) (<-chan struct{}, error) {
	if _, err := l.Locker.Lock(ctx); err != nil {
		return nil, err
	}
	l.lost = make(chan struct{})
	return l.lost, nil
}

func (l *deafLock) Unlock(ctx context.Context) error {
	if l.lost != nil {
		close(l.lost)
		l.lost = nil
	}
	return l.Locker.Unlock(ctx)
}

// noExclusion grants every Lock at once: a lock that excludes nothing.
type noExclusion struct{ lost chan struct{} }

func (l *noExclusion) Lock(context.Context) (<-chan struct{}, error) {
	l.lost = make(chan struct{})
	return l.lost, nil
}

func (l *noExclusion) Unlock(context.Context) error {
	close(l.lost)
	return nil
}
