package leadership

import (
	"context"
	"errors"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

// FollowerStore is what a Follower uses of a store: reading and watching the lock key. Every
// kvstore.Store is one.
type FollowerStore interface {
	Get(ctx context.Context, key string, opts *kvstore.ReadOptions) (*kvstore.KVPair, error)
	Watch(ctx context.Context, key string, opts *kvstore.ReadOptions) (<-chan *kvstore.KVPair, error)
}

// Follower reports who leads an election. Create it with NewFollower.
type Follower struct {
	store FollowerStore
	key   string
}

// NewFollower returns a follower of the election at key on store.
func NewFollower(store FollowerStore, key string) *Follower {
	return &Follower{store: store, key: key}
}

// Leader returns the identity of the current leader, or "" when no one leads.
func (f *Follower) Leader(ctx context.Context) (string, error) {
	pair, err := f.store.Get(ctx, f.key, nil)
	if errors.Is(err, kvstore.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(pair.Value), nil
}

// Follow sends the identity of the leader each time it changes, "" while no one leads, starting
// with the current one. A watch that the store ends (connection lost) is restarted with backoff.
// The channel is closed when ctx ends.
func (f *Follower) Follow(ctx context.Context) <-chan string {
	leaders := make(chan string)
	go func() {
		defer close(leaders)
		pace := retry.New(100*time.Millisecond, 5*time.Second)
		last, sent := "", false
		for ctx.Err() == nil {
			pairs, err := f.store.Watch(ctx, f.key, nil)
			if err != nil {
				pace.Wait(ctx)
				continue
			}
			if !sent {
				// Watch sends nothing for a missing key: say at once that no one leads.
				if leader, err := f.Leader(ctx); err == nil && leader == "" {
					if !chans.Send(ctx, leaders, "") {
						return
					}
					sent = true
				}
			}
			for pair := range pairs {
				pace.Reset()
				leader := ""
				if pair != nil {
					leader = string(pair.Value)
				}
				if sent && leader == last {
					continue
				}
				if !chans.Send(ctx, leaders, leader) {
					return
				}
				last, sent = leader, true
			}
			pace.Wait(ctx) // the watch ended early: the store is likely unreachable
		}
	}()
	return leaders
}
