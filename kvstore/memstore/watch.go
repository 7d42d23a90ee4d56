package memstore

import (
	"context"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
)

// Watch implements kvstore.Store. Every change is in the Backend's log, so a slow receiver
// delays the watch but never makes it skip a write.
func (s *Store) Watch(ctx context.Context, key string, _ *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	key, err := s.normalize(ctx, key)
	if err != nil {
		return nil, err
	}
	s.b.mu.Lock()
	cursor, current := len(s.b.log), s.b.pairLocked(key)
	s.b.mu.Unlock()
	ch := make(chan *kvstore.KVPair)
	err = s.life.Go(ctx, func(ctx context.Context) {
		defer close(ch)
		if current != nil && !chans.Send(ctx, ch, current) {
			return
		}
		for {
			var pending []*kvstore.KVPair
			s.b.mu.Lock()
			for _, c := range s.b.log[cursor:] {
				if c.key == key {
					pending = append(pending, c.pair)
				}
			}
			cursor = len(s.b.log)
			changed := s.b.changed
			s.b.mu.Unlock()
			for _, p := range pending {
				if !chans.Send(ctx, ch, p) {
					return
				}
			}
			if !wait(ctx, changed) {
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// WatchTree implements kvstore.Store; listings coalesce the changes seen since the last one.
func (s *Store) WatchTree(ctx context.Context, dir string, _ *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error) {
	dir, err := s.normalizeDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	ch := make(chan []*kvstore.KVPair)
	s.b.mu.Lock()
	cursor, listing := len(s.b.log), s.b.listLocked(dir)
	s.b.mu.Unlock()
	err = s.life.Go(ctx, func(ctx context.Context) {
		defer close(ch)
		for {
			if listing != nil && !chans.Send(ctx, ch, listing) {
				return
			}
			listing = nil
			s.b.mu.Lock()
			for _, c := range s.b.log[cursor:] {
				if kvstore.IsBelow(dir, c.key) {
					listing = s.b.listLocked(dir)
					break
				}
			}
			cursor = len(s.b.log)
			changed := s.b.changed
			s.b.mu.Unlock()
			if listing == nil && !wait(ctx, changed) {
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// wait blocks until the Backend changes; it reports false when ctx ends (at Close too).
func wait(ctx context.Context, changed <-chan struct{}) bool {
	select {
	case <-changed:
		return true
	case <-ctx.Done():
		return false
	}
}
