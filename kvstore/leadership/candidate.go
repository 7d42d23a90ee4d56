package leadership

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

// DefaultTTL is the lock TTL of a Candidate whose Config.TTL is zero.
const DefaultTTL = 5 * time.Second

// MinTTL is the shortest lock TTL a Candidate accepts.
const MinTTL = 400 * time.Millisecond

// Config configures a Candidate.
type Config struct {
	// Key is the lock key every candidate of one election shares.
	Key string
	// Identity names this candidate; it is written to Key while the candidate leads and is what
	// a Follower reports. It must be unique among the candidates (hostname plus a random suffix,
	// for instance).
	Identity string
	// TTL is how long the lock outlives a candidate that stopped renewing it (crashed, or cut off
	// from the store). Zero means DefaultTTL.
	TTL time.Duration
	// Logger receives a record of every transition and every store error. Nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Key == "" || c.Identity == "" {
		return errors.New("leadership: Key and Identity are required")
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	// Below this the checks every TTL/4 would be faster than any store can answer.
	if c.TTL < MinTTL {
		return fmt.Errorf("leadership: TTL %s is below the minimum %s", c.TTL, MinTTL)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// CandidateStore is what a Candidate uses of a store: a lock, and reading its key to confirm
// that the lock still holds this candidate. Every kvstore.Store is one.
type CandidateStore interface {
	NewLock(ctx context.Context, key string, opts *kvstore.LockOptions) (kvstore.Locker, error)
	Get(ctx context.Context, key string, opts *kvstore.ReadOptions) (*kvstore.KVPair, error)
}

// Candidate campaigns for leadership on a lock key. Create it with NewCandidate.
type Candidate struct {
	store  CandidateStore
	cfg    Config
	leader atomic.Bool
	term   atomic.Uint64
}

// NewCandidate returns a candidate for the election at cfg.Key on store. It does not campaign
// until Campaign is called.
func NewCandidate(store CandidateStore, cfg Config) (*Candidate, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return &Candidate{store: store, cfg: cfg}, nil
}

// Identity returns the candidate's name in the election.
func (c *Candidate) Identity() string { return c.cfg.Identity }

// IsLeader reports whether the candidate leads now.
func (c *Candidate) IsLeader() bool { return c.leader.Load() }

// Term returns the lock key's index when the candidate was last elected: it grows with every
// election on the key, so it tells one leadership term from the next.
func (c *Candidate) Term() uint64 { return c.term.Load() }

// Campaign runs for leadership until ctx ends. It sends true on the returned channel each time the
// candidate is elected and false each time it is deposed (lock lost, or the store out of reach for
// TTL/2); after a deposition it campaigns again. Store errors are logged and retried with backoff.
//
// When ctx ends, Campaign releases the lock if it holds it and then closes the channel; a closed
// channel means the candidate does not lead. The receiver must keep reading until the channel
// closes.
func (c *Candidate) Campaign(ctx context.Context) <-chan bool {
	events := make(chan bool)
	go func() {
		defer close(events)
		c.campaign(ctx, events)
	}()
	return events
}

func (c *Candidate) campaign(ctx context.Context, events chan<- bool) {
	log := c.cfg.Logger.With("key", c.cfg.Key, "identity", c.cfg.Identity)
	pace := retry.New(100*time.Millisecond, c.cfg.TTL)
	for ctx.Err() == nil {
		locker, lost, err := c.acquire(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("campaign failed, retrying", "error", err, "retryIn", pace.Delay())
				pace.Wait(ctx)
			}
			continue
		}
		pace.Reset()
		c.leader.Store(true)
		log.Info("elected", "term", c.term.Load())
		if !chans.Send(ctx, events, true) {
			c.release(locker, log)
			return
		}
		reason := c.hold(ctx, lost)
		c.leader.Store(false)
		if ctx.Err() != nil {
			c.release(locker, log)
			log.Info("resigned", "term", c.term.Load())
			return
		}
		// Report first: releasing may wait on the very store that just failed.
		log.Warn("deposed", "term", c.term.Load(), "reason", reason)
		delivered := chans.Send(ctx, events, false)
		c.release(locker, log)
		if !delivered {
			return
		}
	}
}

func (c *Candidate) acquire(ctx context.Context) (kvstore.Locker, <-chan struct{}, error) {
	locker, err := c.store.NewLock(ctx, c.cfg.Key, &kvstore.LockOptions{Value: []byte(c.cfg.Identity), TTL: c.cfg.TTL})
	if err != nil {
		return nil, nil, err
	}
	lost, err := locker.Lock(ctx)
	if err != nil {
		return nil, nil, err
	}
	if pair, err := c.store.Get(ctx, c.cfg.Key, &kvstore.ReadOptions{Consistent: true}); err == nil {
		c.term.Store(pair.LastIndex)
	}
	return locker, lost, nil
}

// hold returns when leadership ends, with the reason, or "" when ctx ended.
func (c *Candidate) hold(ctx context.Context, lost <-chan struct{}) string {
	ticker := time.NewTicker(c.cfg.TTL / 4)
	defer ticker.Stop()
	lastConfirmed := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-lost:
			return "lock lost"
		case <-ticker.C:
			switch err := c.confirm(ctx); {
			case err == nil:
				lastConfirmed = time.Now()
			case errors.Is(err, errNotHolder):
				return err.Error()
			case ctx.Err() != nil:
				return ""
			case time.Since(lastConfirmed) > c.cfg.TTL/2:
				return fmt.Sprintf("store unreachable for %s: %v", time.Since(lastConfirmed).Round(time.Millisecond), err)
			}
		}
	}
}

var errNotHolder = errors.New("lock key no longer holds this candidate's identity")

// confirm checks, within TTL/4, that the lock key still names this candidate.
func (c *Candidate) confirm(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.TTL/4)
	defer cancel()
	pair, err := c.store.Get(ctx, c.cfg.Key, &kvstore.ReadOptions{Consistent: true})
	switch {
	case errors.Is(err, kvstore.ErrKeyNotFound):
		return errNotHolder
	case err != nil:
		return err
	case !bytes.Equal(pair.Value, []byte(c.cfg.Identity)):
		return errNotHolder
	}
	return nil
}

// release unlocks with a context of its own: the campaign's may have ended, and a prompt
// release is what lets the next candidate in within a second.
func (c *Candidate) release(locker kvstore.Locker, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.TTL)
	defer cancel()
	if err := locker.Unlock(ctx); err != nil && !errors.Is(err, kvstore.ErrNotLocked) {
		log.Warn("releasing the lock failed; it expires within its TTL", "error", err)
	}
}
