package leadergate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/kvmirror/kvmirror/kvstore/leadership"
)

// ErrDeposed ends the guarded Runnable when this replica loses the lock: the process exits
// non-zero and restarts clean, rather than carrying state from a term it no longer holds.
var ErrDeposed = errors.New("lost the leadership lock")

// Gate is this replica's candidacy in the election Options describe. Create it with New, pass
// Holder to whatever records who wrote, and add Guard's Runnable to the manager.
type Gate struct {
	opts *Options
	log  logr.Logger
	// term of the current leadership, 0 while not leading.
	term atomic.Uint64
}

// New returns the gate of the election opts describes; opts must have been completed (see
// Options.Complete). log receives the campaign's transitions.
func New(opts *Options, log logr.Logger) *Gate {
	return &Gate{opts: opts, log: log.WithValues("identity", opts.Identity, "key", opts.Key)}
}

// Holder returns this replica's identity and the term it leads in (0 while not leading), for the
// record a write carries of who made it.
func (g *Gate) Holder() (identity string, term uint64) { return g.opts.Identity, g.term.Load() }

// Guard returns a Runnable that campaigns and runs controllers only while this replica leads.
// Add it to the manager instead of controllers, once.
func (g *Gate) Guard(controllers manager.Runnable) manager.Runnable {
	return &guarded{gate: g, controllers: controllers}
}

// guarded is the Runnable of Guard.
type guarded struct {
	gate        *Gate
	controllers manager.Runnable
}

// NeedLeaderElection is false: the gate is the election.
func (r *guarded) NeedLeaderElection() bool { return false }

// Start opens the election store (waiting, not leading, while it is unreachable) and campaigns
// until ctx ends. Once elected it starts the controllers; on deposition it stops them and returns
// ErrDeposed; when ctx ends it stops them first and only then releases the lock, so that no two
// replicas ever run the controllers at once.
func (r *guarded) Start(ctx context.Context) error {
	g := r.gate
	leaderGauge.Set(0)
	store, err := openStore(ctx, g.opts, g.log)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer store.Close()
	candidate, err := leadership.NewCandidate(store, leadership.Config{
		Key: g.opts.Key, Identity: g.opts.Identity, TTL: g.opts.TTL, Logger: slog.New(logr.ToSlogHandler(g.log)),
	})
	if err != nil {
		return err
	}
	// The campaign outlives ctx on purpose: the lock is released only after the controllers stopped.
	campaignCtx, resign := context.WithCancel(context.WithoutCancel(ctx))
	events := candidate.Campaign(campaignCtx)
	defer func() {
		resign()
		for range events { // until Campaign has released the lock
		}
		leaderGauge.Set(0)
	}()
	g.log.Info("campaigning for leadership")
	select {
	case <-ctx.Done():
		return nil
	case <-events: // the first event is always an election
	}
	return r.lead(ctx, candidate.Term(), events)
}

// lead runs the controllers until ctx ends or leadership is lost.
func (r *guarded) lead(ctx context.Context, term uint64, events <-chan bool) error {
	g := r.gate
	g.term.Store(term)
	defer g.term.Store(0)
	leaderGauge.Set(1)
	log := g.log.WithValues("term", term)
	log.Info("elected leader; starting controllers")
	leaderCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- r.controllers.Start(leaderCtx) }()
	select {
	case <-ctx.Done():
		if err := stopControllers(stop, done); err != nil {
			log.Error(err, "controllers stopped with an error")
		}
		log.Info("stopping: controllers stopped, releasing leadership")
		return nil
	case <-events:
		if err := stopControllers(stop, done); err != nil {
			log.Error(err, "controllers stopped with an error")
		}
		leaderGauge.Set(0)
		log.Error(ErrDeposed, "deposed; controllers stopped, exiting to restart clean")
		return ErrDeposed
	case err := <-done:
		return fmt.Errorf("controllers stopped while leading: %w", err)
	}
}

// stopControllers cancels the controllers' context and waits until they have stopped.
func stopControllers(stop context.CancelFunc, done <-chan error) error {
	stop()
	return <-done
}
