package consul

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
	"github.com/kvmirror/kvmirror/kvstore/internal/pairs"
)

// Watch reports key's changes on the returned channel, which the Store closes when ctx ends, at
// Close, or when the agents stay unreachable (or refuse the token) past the retry bound; see
// kvstore.Store.Watch. A deletion is sent as a nil pair.
//
// Consul keeps no history: each blocking query returns the key as it is. Writes that land while
// the previous event waits for the receiver, or between two queries, arrive as one event carrying
// the latest value (one event per write holds only while the receiver keeps up). A delete is never
// lost this way: a key that was deleted and created again in between is reported as a nil pair
// followed by the new pair, told apart by Consul's CreateIndex.
func (s *Store) Watch(ctx context.Context, key string, opts *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	rctx, key, leave, err := s.enterKey(ctx, key)
	if err != nil {
		return nil, err
	}
	defer leave()
	w := &keyWatch{s: s, key: key, consistent: kvstore.IsConsistent(opts)}
	// The first read happens before Watch returns, so the watch starts from the state at the call
	// and an unreachable agent or a refused token is an error here rather than a closed channel.
	cur, err := w.read(rctx)
	if err != nil {
		return nil, fmt.Errorf("consul: watch %q: %w", key, err)
	}
	return serve(ctx, s, func(ctx context.Context, ch chan<- *kvstore.KVPair) { w.run(ctx, ch, cur) })
}

// serve runs a watch in a goroutine that Close waits for and returns its channel, which closes
// when run returns. run's context ends with ctx or at Close.
func serve[T any](ctx context.Context, s *Store, run func(ctx context.Context, ch chan<- T)) (<-chan T, error) {
	ch := make(chan T)
	err := s.life.Go(ctx, func(ctx context.Context) {
		defer close(ch)
		run(ctx, ch)
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

type keyWatch struct {
	s          *Store
	key        string
	consistent bool
	wait       blocking

	last *api.KVPair // the pair last sent; nil before the first or after a deletion was sent
	sent uint64      // the highest ModifyIndex sent: events never go back
}

// read runs one (blocking, after the first) query of the key.
func (w *keyWatch) read(ctx context.Context) (*api.KVPair, error) {
	actx, cancel := w.s.blockingAttempt(ctx, &w.wait)
	defer cancel()
	pair, meta, err := w.s.readKey(w.key, w.wait.options(actx, w.consistent))
	if err != nil {
		return nil, mapError(actx, err)
	}
	w.wait.next(meta)
	return pair, nil
}

func (w *keyWatch) run(ctx context.Context, ch chan<- *kvstore.KVPair, cur *api.KVPair) {
	pace := newRetrier(w.s.watchGiveUp())
	for {
		for _, ev := range w.events(cur) {
			if !chans.Send(ctx, ch, ev) {
				return
			}
		}
		next, err := w.read(ctx)
		if err != nil {
			if !pace.failed(ctx, err) {
				return
			}
			continue
		}
		pace.succeeded()
		cur = next
	}
}

// events returns what to send now that the key reads cur (nil: absent).
func (w *keyWatch) events(cur *api.KVPair) []*kvstore.KVPair {
	switch {
	case cur == nil && w.last == nil, cur != nil && cur.ModifyIndex <= w.sent:
		return nil
	case cur == nil:
		w.last = nil
		return []*kvstore.KVPair{nil}
	}
	evs := []*kvstore.KVPair{toPair(cur)}
	if w.last != nil && cur.CreateIndex != w.last.CreateIndex {
		// Deleted and created again between two queries.
		evs = []*kvstore.KVPair{nil, toPair(cur)}
	}
	w.last, w.sent = cur, cur.ModifyIndex
	return evs
}

// WatchTree reports the keys below directory: the full listing first, then a new listing each
// time a blocking query on the prefix finds the keys or their indexes changed; see
// kvstore.Store.WatchTree. Closing rules are Watch's.
func (s *Store) WatchTree(ctx context.Context, directory string, opts *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error) {
	rctx, dir, leave, err := s.enterDir(ctx, directory)
	if err != nil {
		return nil, err
	}
	defer leave()
	w := &treeWatch{s: s, dir: dir, consistent: kvstore.IsConsistent(opts)}
	cur, err := w.read(rctx)
	if err != nil {
		return nil, fmt.Errorf("consul: watch tree %q: %w", dir, err)
	}
	return serve(ctx, s, func(ctx context.Context, ch chan<- []*kvstore.KVPair) { w.run(ctx, ch, cur) })
}

type treeWatch struct {
	s          *Store
	dir        string
	consistent bool
	wait       blocking
	last       []*kvstore.KVPair // the listing last sent; nil before the first
}

func (w *treeWatch) read(ctx context.Context) ([]*kvstore.KVPair, error) {
	actx, cancel := w.s.blockingAttempt(ctx, &w.wait)
	defer cancel()
	pairs, meta, err := w.s.listBelow(w.dir, w.wait.options(actx, w.consistent))
	if err != nil {
		return nil, mapError(actx, err)
	}
	w.wait.next(meta)
	return pairs, nil
}

func (w *treeWatch) run(ctx context.Context, ch chan<- []*kvstore.KVPair, cur []*kvstore.KVPair) {
	pace := newRetrier(w.s.watchGiveUp())
	for {
		if w.last == nil || !pairs.SameWrites(w.last, cur) {
			if !chans.Send(ctx, ch, cur) {
				return
			}
			w.last = cur
		}
		next, err := w.read(ctx)
		if err != nil {
			if !pace.failed(ctx, err) {
				return
			}
			continue
		}
		pace.succeeded()
		cur = next
	}
}
