package boltdb

import (
	"context"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
	"github.com/kvmirror/kvmirror/kvstore/internal/pairs"
)

// retryInterval is how soon a watch re-reads the file after a read failed, typically because
// another process held the file longer than the ConnectionTimeout.
const retryInterval = 200 * time.Millisecond

// Watch reports the value of key; see kvstore.Store. Writes made through any Store of this
// process on the file arrive one by one, in index order, a deletion or expiry as a nil pair.
// Writes by other processes are noticed within about a second (when the file's counter moves)
// and reported as the key's state at that time, so some of them may be folded into one event.
//
// The channel is closed when ctx ends or the Store closes; the watch goroutine waits on a slow
// receiver rather than drop an event.
func (s *Store) Watch(ctx context.Context, key string, _ *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return nil, err
	}
	// Subscribe before the first read, so that no write falls between the two; the counter read
	// with the key tells which queued events that read already covers.
	sub := s.f.subscribe(func(e *event) bool { return e.bucket == s.bucket && e.key == key })
	w := &keyWatch{s: s, key: key, sub: sub}
	var first *kvstore.KVPair
	err = s.view(ctx, func(t *txn) error {
		first, err = w.read(t)
		return err
	})
	if err != nil {
		sub.cancel()
		return nil, err
	}
	ch := make(chan *kvstore.KVPair)
	err = s.watch(ctx, sub, func(ctx context.Context) {
		defer close(ch)
		w.run(ctx, ch, first)
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// WatchTree reports the listings of directory; see kvstore.Store. Listings are read afresh
// after each batch of changes, so several changes may arrive as one listing, and a listing equal
// to the one sent before is not sent again.
func (s *Store) WatchTree(ctx context.Context, directory string, _ *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error) {
	dir, err := kvstore.NormalizeDir(directory)
	if err != nil {
		return nil, err
	}
	sub := s.f.subscribe(func(e *event) bool { return e.bucket == s.bucket && kvstore.IsBelow(dir, e.key) })
	w := &treeWatch{s: s, dir: dir, sub: sub}
	var first []*kvstore.KVPair
	err = s.view(ctx, func(t *txn) error {
		first, _, err = t.list(dir)
		return err
	})
	if err != nil {
		sub.cancel()
		return nil, err
	}
	ch := make(chan []*kvstore.KVPair)
	err = s.watch(ctx, sub, func(ctx context.Context) {
		defer close(ch)
		w.run(ctx, ch, first)
	})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// watch runs a watch goroutine with a context that also ends at Close, and drops its
// subscription when it returns.
func (s *Store) watch(ctx context.Context, sub *subscription, run func(context.Context)) error {
	err := s.life.Go(ctx, func(ctx context.Context) {
		defer sub.cancel()
		run(ctx)
	})
	if err != nil {
		sub.cancel()
	}
	return err
}

type keyWatch struct {
	s   *Store
	key string
	sub *subscription
	// seen is the highest index whose effect on key has been sent (or was already in the first
	// read); queued events at or below it are stale.
	seen uint64
	// exists is whether the last state sent was a pair, so that a deletion is sent once.
	exists bool
}

// read returns key's pair (nil if missing) and moves seen to the file's counter.
func (w *keyWatch) read(t *txn) (*kvstore.KVPair, error) {
	r, ok, err := t.get(w.key)
	if err != nil {
		return nil, err
	}
	w.seen = max(w.seen, t.counter())
	if !ok {
		return nil, nil
	}
	return &kvstore.KVPair{Key: w.key, Value: r.value, LastIndex: r.index}, nil
}

func (w *keyWatch) run(ctx context.Context, ch chan<- *kvstore.KVPair, first *kvstore.KVPair) {
	if first != nil {
		w.exists = true
		if !chans.Send(ctx, ch, first) {
			return
		}
	}
	retry := false
	for {
		events, ok := wait(ctx, w.sub, retry)
		if !ok {
			return
		}
		retry = false
		for _, e := range events {
			pair, changed, err := w.next(ctx, e)
			retry = retry || err != nil
			if changed && !chans.Send(ctx, ch, pair) {
				return
			}
		}
	}
}

// next turns an event into what to send, if anything: a pair, or nil for a deletion.
func (w *keyWatch) next(ctx context.Context, e event) (*kvstore.KVPair, bool, error) {
	var pair *kvstore.KVPair
	if e.resync {
		before := w.seen
		err := w.s.f.view(ctx, w.s.timeout, w.s.bucket, func(t *txn) error {
			var err error
			pair, err = w.read(t)
			return err
		})
		if err != nil || (pair != nil && pair.LastIndex <= before) {
			return nil, false, err
		}
	} else {
		if e.index <= w.seen {
			return nil, false, nil
		}
		w.seen = e.index
		pair = pairs.Clone(e.pair)
	}
	if pair == nil && !w.exists {
		return nil, false, nil
	}
	w.exists = pair != nil
	return pair, true, nil
}

type treeWatch struct {
	s   *Store
	dir string
	sub *subscription
}

func (w *treeWatch) run(ctx context.Context, ch chan<- []*kvstore.KVPair, last []*kvstore.KVPair) {
	if !chans.Send(ctx, ch, last) {
		return
	}
	retry := false
	for {
		if _, ok := wait(ctx, w.sub, retry); !ok {
			return
		}
		var listing []*kvstore.KVPair
		err := w.s.f.view(ctx, w.s.timeout, w.s.bucket, func(t *txn) error {
			var err error
			listing, _, err = t.list(w.dir)
			return err
		})
		retry = err != nil
		if err != nil || pairs.SameWrites(listing, last) {
			continue
		}
		if !chans.Send(ctx, ch, listing) {
			return
		}
		last = listing
	}
}

// wait blocks until sub has events, or until retryInterval has passed when retry is set (the
// caller then re-reads as after a resync). It returns false when ctx ends.
func wait(ctx context.Context, sub *subscription, retry bool) ([]event, bool) {
	var timer <-chan time.Time
	if retry {
		timer = time.After(retryInterval)
	}
	select {
	case <-ctx.Done():
		return nil, false
	case <-sub.ready:
		events := sub.take()
		if retry {
			events = append([]event{{resync: true}}, events...)
		}
		return events, true
	case <-timer:
		return append([]event{{resync: true}}, sub.take()...), true
	}
}
