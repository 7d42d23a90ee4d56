package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// pollInterval is how often a wait looks again. Short enough that the timings the demo prints
// (how fast the ConfigMap follows a write) are not mostly polling delay, long enough not to load
// the API server.
const pollInterval = 50 * time.Millisecond

// permanentError stops a poll at once: waiting longer cannot help (the process it waits for
// exited).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func stopPolling(err error) error { return permanentError{err} }

// poll calls check until it returns nil, returns a permanentError, ctx ends, or timeout passes.
// check's other errors mean "not yet": the last one says, in the timeout's error, what was seen.
func poll(ctx context.Context, timeout time.Duration, what string, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		var permanent permanentError
		if errors.As(err, &permanent) {
			return permanent.err
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("waited %s for %s; last seen: %w", seconds(timeout), what, err)
			}
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// waitConfigMap waits until the ConfigMap's data is exactly want, and returns that data.
func waitConfigMap(ctx context.Context, c client.Client, key client.ObjectKey, want map[string]string, timeout time.Duration) (map[string]string, error) {
	var got map[string]string
	err := poll(ctx, timeout, "ConfigMap "+key.Name+" to hold "+fmt.Sprint(want), func(ctx context.Context) error {
		var cm corev1.ConfigMap
		if err := c.Get(ctx, key, &cm); err != nil {
			return err
		}
		got = cm.Data
		if !maps.Equal(cm.Data, want) || len(cm.BinaryData) > 0 {
			return fmt.Errorf("data %v, binaryData %d keys", cm.Data, len(cm.BinaryData))
		}
		return nil
	})
	return got, err
}
