package consul

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

// waitTime is how long one blocking query may wait for a change before Consul answers anyway.
// Shorter means an agent that stalls (accepts, never answers) is noticed sooner; each query costs
// one request, so it need not be long.
const waitTime = 10 * time.Second

// blocking tracks the index of a series of Consul blocking queries.
type blocking struct {
	index uint64
}

func (b *blocking) options(ctx context.Context, consistent bool) *api.QueryOptions {
	return (&api.QueryOptions{WaitIndex: b.index, WaitTime: waitTime, RequireConsistent: consistent}).WithContext(ctx)
}

// next records the index of a response. Consul's index can go back (a snapshot restored, a new
// cluster at the same address); the series then starts again with a query that does not block.
// Index 0 would never block, so an index is at least 1.
func (b *blocking) next(meta *api.QueryMeta) {
	if meta.LastIndex < b.index {
		b.index = 0
		return
	}
	b.index = max(meta.LastIndex, 1)
}

// blockingAttempt bounds one query of the series b: a blocking one is answered within waitTime
// plus up to waitTime/16 of jitter, and the connection timeout covers the rest; the first one
// does not block, so the connection timeout alone bounds it.
func (s *Store) blockingAttempt(ctx context.Context, b *blocking) (context.Context, context.CancelFunc) {
	if b.index == 0 {
		return s.attempt(ctx)
	}
	return context.WithTimeoutCause(ctx, waitTime+waitTime/16+s.timeout, errNoAnswer)
}

// retrier paces the retries of a background loop (watch, lock monitor) after failed requests,
// and says when to give up.
type retrier struct {
	pace *retry.Backoff // GiveUp: how long a run of transient failures may last; 0: forever
}

// watchGiveUp is how long a watch retries an agent that stays unreachable before it closes its
// channel: long enough for an agent to restart or a leader to be elected, short enough that a
// consumer learns its watch is gone (it will see the channel close and start again).
func (s *Store) watchGiveUp() time.Duration {
	return max(30*time.Second, 3*s.timeout)
}

func newRetrier(giveUp time.Duration) *retrier {
	return &retrier{pace: &retry.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second, GiveUp: giveUp}}
}

// failed waits before the next try and returns true, or returns false when the loop should stop:
// ctx ended, the error will not heal by retrying (a refused token or certificate), or failures
// have lasted longer than giveUp.
func (r *retrier) failed(ctx context.Context, err error) bool {
	if ctx.Err() != nil || !retryable(err) {
		return false
	}
	return r.pace.Wait(ctx)
}

func (r *retrier) succeeded() {
	r.pace.Reset()
}
