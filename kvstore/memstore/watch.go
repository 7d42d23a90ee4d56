package memstore

import (
	"context"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Watch implements kvstore.Store. Every change is in the Backend's log, so a slow receiver
// delays the watch but never makes it skip a write.
func (s *Store) Watch(ctx context.Context, key string, _ *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	key, err := s.begin(ctx, key)
	if err != nil {
		return nil, err
	}
	s.b.mu.Lock()
	cursor, current := len(s.b.log), s.b.pairLocked(key)
	s.b.mu.Unlock()
	ch := make(chan *kvstore.KVPair)
	s.wg.Go(func() {
		defer close(ch)
		if current != nil && !send(ctx, s, ch, current) {
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
				if !send(ctx, s, ch, p) {
					return
				}
			}
			if !s.wait(ctx, changed) {
				return
			}
		}
	})
	return ch, nil
}

// WatchTree implements kvstore.Store; listings coalesce the changes seen since the last one.
func (s *Store) WatchTree(ctx context.Context, dir string, _ *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error) {
	dir, err := s.beginDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	ch := make(chan []*kvstore.KVPair)
	s.b.mu.Lock()
	cursor, listing := len(s.b.log), s.b.listLocked(dir)
	s.b.mu.Unlock()
	s.wg.Go(func() {
		defer close(ch)
		for {
			if listing != nil && !send(ctx, s, ch, listing) {
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
			if listing == nil && !s.wait(ctx, changed) {
				return
			}
		}
	})
	return ch, nil
}

func send[T any](ctx context.Context, s *Store, ch chan<- T, v T) bool {
	select {
	case ch <- v:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}

func (s *Store) wait(ctx context.Context, changed <-chan struct{}) bool {
	select {
	case <-changed:
		return true
	case <-ctx.Done():
	case <-s.done:
	}
	return false
}
