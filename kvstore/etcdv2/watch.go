package etcdv2

import (
	"context"
	"errors"
	"strings"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
	"github.com/kvmirror/kvmirror/kvstore/internal/pairs"
	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

// watchPoll bounds each long poll of a watch. etcd answers a v2 watch only when an event comes,
// so a server that stopped answering (a paused process, a stalled network) would leave the poll
// hanging for good. After watchPoll without an event, the watch checks that the server still
// answers and polls again from the same index, which loses nothing.
const watchPoll = 30 * time.Second

// Watch implements kvstore.Store. It reads the key, then follows a recursive etcd watch on the
// key's node from the index of that read, so no write falls between the two. The watch is
// recursive because the key may be the value file in that node or, written by another v2 client,
// the node itself as a plain file, and may change from one to the other: one watch sees both in
// etcd's order. Writes to keys below the key wake it too, and are dropped. Every write is an event
// (etcd gives each its own index); a delete, an expiry and a DeleteTree above the key are sent as
// a nil pair. etcd keeps only its last 1000 events: a watch that falls further behind (a slow
// receiver while others write a lot) reads the key afresh and goes on from there, so it may skip
// intermediate writes but never goes back. If the backend is unreachable at the start, Watch
// returns the error instead of a channel; later outages are retried for the connection timeout,
// then the channel is closed. A server that stops answering without closing the connection is
// noticed after a silent long poll of 30 s.
func (s *Store) Watch(ctx context.Context, key string, opts *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return nil, err
	}
	var pair *kvstore.KVPair
	var index uint64
	err = s.call(ctx, "watch", canonical, func(ctx context.Context) error {
		var err error
		pair, index, err = s.read(ctx, canonical, kvstore.IsConsistent(opts))
		return err
	})
	if err != nil {
		return nil, err
	}
	w := &keyWatch{s: s, key: canonical, node: nodePath(canonical), leaf: leafPath(canonical), out: make(chan *kvstore.KVPair)}
	if err := s.spawn(ctx, "watch", canonical, func(ctx context.Context) {
		defer close(w.out)
		w.run(ctx, pair, index)
	}); err != nil {
		return nil, err
	}
	return w.out, nil
}

// spawn runs fn in a goroutine that Close waits for, with a context that ends with ctx or Close.
func (s *Store) spawn(ctx context.Context, op, key string, fn func(ctx context.Context)) error {
	if !s.life.Track() {
		return s.wrapErr(ctx, op, key, kvstore.ErrClosed)
	}
	bound, cancel := s.life.Bind(ctx)
	go func() {
		defer s.life.Done()
		defer cancel()
		fn(bound)
	}()
	return nil
}

// keyWatch follows one key for Watch.
type keyWatch struct {
	s    *Store
	key  string // canonical
	node string // its directory in the layout, or its plain file
	leaf string // its value file in the layout
	out  chan *kvstore.KVPair
	// present is whether the receiver was last told that the key exists; last is the highest
	// index it was told of. Together they drop what would repeat or go back: etcd's history
	// reports the removal of an empty directory above the key (Delete tidies those) although
	// the key was gone already, and a re-read after lost history may find what was sent.
	present bool
	last    uint64
}

func (w *keyWatch) run(ctx context.Context, initial *kvstore.KVPair, index uint64) {
	if initial != nil && !w.deliver(ctx, initial) {
		return
	}
	pace := w.s.newBackoff()
	for {
		err := w.follow(ctx, &index, pace)
		if ctx.Err() != nil {
			return
		}
		if historyCleared(err) {
			if at, ok := w.resync(ctx); ok {
				index = at
				pace.Reset()
				continue
			}
		}
		if !pace.Wait(ctx) {
			return
		}
	}
}

// resync reads the key afresh once etcd no longer has the events the watch waited for, delivers
// it if it changed, and returns the index to follow from: what the key is now is all that can
// be known of the writes in between.
func (w *keyWatch) resync(ctx context.Context) (uint64, bool) {
	readCtx, cancel := context.WithTimeout(ctx, w.s.timeout)
	defer cancel()
	pair, index, err := w.s.read(readCtx, w.key, false)
	if err != nil {
		return 0, false
	}
	if pair == nil {
		pair = removed
	}
	return index, w.deliver(ctx, pair)
}

// follow delivers the events of one v2 watcher until it fails, advancing *index past each.
func (w *keyWatch) follow(ctx context.Context, index *uint64, pace *retry.Backoff) error {
	watcher := w.s.keys.Watcher(w.node, &client.WatcherOptions{AfterIndex: *index, Recursive: true})
	for {
		resp, err := w.s.next(ctx, watcher)
		if err != nil {
			return err
		}
		pace.Reset()
		*index = resp.Node.ModifiedIndex
		if !w.deliver(ctx, w.pairOf(resp)) {
			return ctx.Err()
		}
	}
}

// removed is what pairOf returns for an event that deletes the key.
var removed = &kvstore.KVPair{}

// pairOf turns an event into the pair to deliver: removed for a deletion, nil for an event that
// is not about the key (a key below it, a directory made or tidied). The removal of the node
// covers both forms of the key: its plain file, and its directory with the value file in it.
func (w *keyWatch) pairOf(resp *client.Response) *kvstore.KVPair {
	switch node := resp.Node; {
	case removal(resp, w.leaf) || removal(resp, w.node):
		return removed
	case (node.Key == w.leaf || node.Key == w.node) && !node.Dir && !isDeletion(resp):
		return newPair(w.key, node)
	}
	return nil
}

// removal reports whether an event deletes node: its own deletion or expiry, or the deletion of
// a directory above it. etcd's event history also reports directories that merely share a
// prefix with node, hence the exact comparison.
func removal(resp *client.Response, node string) bool {
	return isDeletion(resp) && (resp.Node.Key == node || strings.HasPrefix(node, resp.Node.Key+"/"))
}

func isDeletion(resp *client.Response) bool {
	switch resp.Action {
	case "delete", "expire", "compareAndDelete":
		return true
	}
	return false
}

// deliver sends what pair says (removed: a deletion) unless it would repeat or go back; it
// reports false only when ctx ended first.
func (w *keyWatch) deliver(ctx context.Context, pair *kvstore.KVPair) bool {
	var v *kvstore.KVPair
	switch pair {
	case nil:
		return true
	case removed:
		if !w.present {
			return true
		}
		w.present = false
	default:
		if pair.LastIndex <= w.last {
			return true
		}
		w.present, w.last, v = true, pair.LastIndex, pair
	}
	select {
	case w.out <- v:
		return true
	case <-ctx.Done():
		return false
	}
}

// WatchTree implements kvstore.Store. It lists the directory, then follows a recursive v2 watch
// from the index of that listing; after each event it lists again and goes on from the new
// listing's index, so a burst of writes costs one listing, and the last listing always equals
// List. A listing equal to the one sent before (a write to the directory's own key, or etcd
// tidying empty directories) is not sent again. Outages are handled as in Watch.
func (s *Store) WatchTree(ctx context.Context, directory string, opts *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error) {
	dir, err := s.normalizeDir(directory)
	if err != nil {
		return nil, err
	}
	var listing []*kvstore.KVPair
	var index uint64
	err = s.call(ctx, "watch tree", dir, func(ctx context.Context) error {
		var err error
		listing, _, index, err = s.list(ctx, dir, kvstore.IsConsistent(opts))
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(chan []*kvstore.KVPair)
	if err := s.spawn(ctx, "watch tree", dir, func(ctx context.Context) {
		defer close(out)
		s.followTree(ctx, dir, listing, index, out)
	}); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) followTree(ctx context.Context, dir string, sent []*kvstore.KVPair, index uint64, out chan<- []*kvstore.KVPair) {
	if !chans.Send(ctx, out, sent) {
		return
	}
	pace := s.newBackoff()
	for {
		watcher := s.keys.Watcher(nodePath(dir), &client.WatcherOptions{AfterIndex: index, Recursive: true})
		_, err := s.next(ctx, watcher)
		if ctx.Err() != nil {
			return
		}
		// An event, or events etcd no longer has: either way the listing is read afresh, and
		// the watch goes on from that read, which holds everything up to its index.
		if err == nil || historyCleared(err) {
			listing, at, err := s.relist(ctx, dir)
			if err == nil {
				pace.Reset()
				index = at
				if !pairs.Equal(listing, sent) {
					if !chans.Send(ctx, out, listing) {
						return
					}
					sent = listing
				}
				continue
			}
		}
		if !pace.Wait(ctx) {
			return
		}
	}
}

func (s *Store) relist(ctx context.Context, dir string) ([]*kvstore.KVPair, uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	listing, _, index, err := s.list(ctx, dir, false)
	return listing, index, err
}

// next waits for the watcher's next event. A poll that stays silent for s.poll is repeated
// once the server has proven that it still answers; a server that does not is an error.
func (s *Store) next(ctx context.Context, watcher client.Watcher) (*client.Response, error) {
	for {
		poll, cancel := context.WithTimeout(ctx, s.poll)
		resp, err := watcher.Next(poll)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return resp, err
		}
		probe, cancel := context.WithTimeout(ctx, s.timeout)
		_, err = s.client.GetVersion(probe)
		cancel()
		if err != nil {
			return nil, err
		}
	}
}

func historyCleared(err error) bool {
	return isCode(err, client.ErrorCodeEventIndexCleared) || isCode(err, client.ErrorCodeWatcherCleared)
}

// newBackoff paces the retries of a watch or a lock's wait after failures, from 50ms up to 1s,
// and gives up once the server has failed for longer than the connection timeout: a watch then
// closes its channel, which is how its receiver learns that it must start again.
func (s *Store) newBackoff() *retry.Backoff {
	return &retry.Backoff{Min: 50 * time.Millisecond, Max: time.Second, GiveUp: s.timeout}
}
