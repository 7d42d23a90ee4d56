package leadergate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/kvmirror/kvmirror/kvstore"
)

// openStore opens the election store, retrying until it answers or ctx ends: a replica started
// while the store is down waits, not leading, and campaigns as soon as it is back. An error that
// waiting cannot cure (bad credentials, a malformed URL) is returned at once.
func openStore(ctx context.Context, o *Options, log logr.Logger) (kvstore.Store, error) {
	cfg, err := o.storeConfig()
	if err != nil {
		return nil, fmt.Errorf("leader election store: %w", err)
	}
	log = log.WithValues("store", redactURL(o.StoreURL))
	retry := o.Retry
	for {
		store, err := o.Open(ctx, o.StoreURL, cfg)
		if err == nil {
			return store, nil
		}
		if !errors.Is(err, kvstore.ErrUnreachable) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("leader election store: %w", err)
		}
		delay := retry.Step()
		log.Info("election store unreachable; not leading, retrying", "error", err.Error(), "retryIn", delay)
		if err := sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// sleep waits for d or until ctx ends, and returns ctx's error in the latter case.
func sleep(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// redactURL hides credentials in a store URL before it is logged.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if _, hosts, ok := strings.Cut(rest, "@"); ok {
		return scheme + "://***@" + hosts
	}
	return raw
}
