package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

// Watch implements kvstore.Store. It reads the key, then follows etcd's watch from the revision
// after that read, so no write falls between the two; a deletion is sent as a nil pair. If the
// backend is unreachable at the start, Watch returns the error instead of a channel.
func (s *Store) Watch(ctx context.Context, key string, _ *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error) {
	canonical, err := s.normalize(key)
	if err != nil {
		return nil, err
	}
	l := &watchLoop[*kvstore.KVPair]{
		s: s, op: "watch", name: canonical, ranges: []keyRange{{key: s.keys.userKey(canonical)}},
		state: &keyState{key: canonical},
		out:   make(chan *kvstore.KVPair),
	}
	if err := l.start(ctx); err != nil {
		return nil, err
	}
	return l.out, nil
}

// WatchTree implements kvstore.Store. It lists the tree, then follows etcd's watch on the tree's
// prefix from the revision after that listing, applying each batch of events to its own copy of
// the tree: a listing costs no request, and listings the receiver was too slow to take are
// replaced by newer ones.
func (s *Store) WatchTree(ctx context.Context, directory string, _ *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error) {
	dir, err := s.normalizeDir(directory)
	if err != nil {
		return nil, err
	}
	l := &watchLoop[[]*kvstore.KVPair]{
		s: s, op: "watch tree", name: dir, ranges: s.keys.dirRanges(dir),
		state: &treeState{keys: s.keys},
		out:   make(chan []*kvstore.KVPair),
	}
	if err := l.start(ctx); err != nil {
		return nil, err
	}
	return l.out, nil
}

// watchState is what a Watch or WatchTree knows of its keys, and what it has to deliver.
type watchState[T any] interface {
	// reset replaces the state by a fresh read, sorted by key; values already delivered are not
	// repeated.
	reset(kvs []*mvccpb.KeyValue)
	// apply adds one batch of watch events, all of one or more whole revisions.
	apply(events []*clientv3.Event)
	// next returns the value to deliver next, if there is one.
	next() (T, bool)
	// delivered records that the receiver took next's value.
	delivered()
}

// watchLoop follows one key or prefix for a Watch or WatchTree and delivers to out, which it
// closes when it ends.
type watchLoop[T any] struct {
	s    *Store
	op   string // for error messages
	name string // the canonical key or directory, for error messages
	// ranges are the etcd ranges followed, ascending. The watch covers the whole span from the
	// first to the last; state skips the keys between them (see dirRanges).
	ranges []keyRange
	state  watchState[T]
	out    chan T
	// rev is the revision up to which state is complete; the watch resumes after it.
	rev int64
}

var (
	// errOutage ends a watch when the connection has been down for the connection timeout
	// (see watchConnection).
	errOutage = errors.New("etcd connection down")
	// errBroken: etcd's watch channel closed without an error of its own.
	errBroken = errors.New("etcd watch closed")
)

// start reads the initial state, so that an unreachable backend is an error of the call, then
// runs the loop in a goroutine the Store waits for on Close.
func (l *watchLoop[T]) start(ctx context.Context) error {
	resp, err := l.read(ctx)
	if err != nil {
		return err
	}
	if !l.s.life.Track() {
		return fmt.Errorf("etcd %s %q: %w", l.op, l.name, kvstore.ErrClosed)
	}
	l.reset(resp)
	ctx, cancel := l.s.life.Bind(ctx)
	go func() {
		defer l.s.life.Done()
		defer cancel()
		defer close(l.out)
		l.run(ctx)
	}()
	return nil
}

// read reads every range at one revision.
func (l *watchLoop[T]) read(ctx context.Context) (resp *clientv3.TxnResponse, err error) {
	err = l.s.call(ctx, l.op, l.name, func(ctx context.Context) error {
		resp, err = l.s.client.Txn(ctx).Then(rangeGets(l.ranges)...).Commit()
		return err
	})
	return resp, err
}

func (l *watchLoop[T]) reset(resp *clientv3.TxnResponse) {
	l.state.reset(rangeKvs(resp, len(l.ranges)))
	l.rev = resp.Header.Revision
}

// run follows the watch until ctx ends or the backend is lost. etcd's client resumes a watch
// across reconnections by itself; its channel closes only on errors it cannot handle. After a
// compaction the loop reads the current state and jumps to it (revisions it did not see are gone
// for good); after any other end it checks that the backend still answers, then resumes from the
// last revision it saw, so no event is lost.
func (l *watchLoop[T]) run(ctx context.Context) {
	ctx, stop := l.s.watchConnection(ctx)
	defer stop()
	backoff := retry.New(minBackoff, maxBackoff)
	for {
		rev := l.rev
		err := l.follow(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case l.rev > rev:
			backoff.Reset()
		case !backoff.Wait(ctx):
			return
		}
		resp, readErr := l.read(ctx)
		if readErr != nil {
			return
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			l.reset(resp)
		}
	}
}

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// follow delivers the state's values while it feeds it etcd's watch events, until the watch
// ends; it returns why.
func (l *watchLoop[T]) follow(ctx context.Context) error {
	// Without a leader the member cannot tell whether it is current: require one, so that a
	// partitioned member ends the watch and run checks the backend instead of waiting forever.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	first, last := l.ranges[0], l.ranges[len(l.ranges)-1]
	wch := l.s.client.Watch(wctx, first.key, clientv3.WithRange(last.end), clientv3.WithRev(l.rev+1))
	for {
		value, ok := l.state.next()
		var out chan<- T
		if ok {
			out = l.out
		}
		select {
		case out <- value:
			l.state.delivered()
		case resp, open := <-wch:
			if !open {
				return errBroken
			}
			if err := resp.Err(); err != nil {
				return err
			}
			if n := len(resp.Events); n > 0 {
				l.state.apply(resp.Events)
				l.rev = resp.Events[n-1].Kv.ModRevision
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// watchConnection returns a context that ends with ctx, or with cause errOutage once the
// client's connection has not been ready for the connection timeout in a row, and a function
// that releases it and waits for its goroutine. etcd's client retries a broken watch stream for
// as long as it takes, so without this a watch on a backend that is gone for good would wait in
// silence; it ends instead, as a call would fail. A shorter outage is invisible: the client
// resumes the watch. Keepalive pings (see keepAliveTime) take the connection out of the ready
// state when the server stops answering without closing it.
func (s *Store) watchConnection(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if s.waitOutage(ctx) {
			cancel(errOutage)
		}
	}()
	return ctx, func() {
		cancel(context.Canceled)
		<-done
	}
}

// waitOutage reports true once the connection has been out of the ready state for the timeout,
// false when ctx ends first.
func (s *Store) waitOutage(ctx context.Context) bool {
	conn := s.client.ActiveConnection()
	var downSince time.Time
	for {
		state := conn.GetState()
		switch {
		case state == connectivity.Ready:
			downSince = time.Time{}
		case downSince.IsZero():
			downSince = time.Now()
		}
		waitCtx, cancel := ctx, context.CancelFunc(func() {})
		if !downSince.IsZero() {
			waitCtx, cancel = context.WithDeadline(ctx, downSince.Add(s.timeout))
		}
		changed := conn.WaitForStateChange(waitCtx, state)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if !changed {
			return true
		}
	}
}
