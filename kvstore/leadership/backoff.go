package leadership

import (
	"context"
	"time"
)

// backoff doubles a delay from min up to max between failed attempts.
type backoff struct {
	min, max, next time.Duration
}

func newBackoff(minDelay, maxDelay time.Duration) *backoff {
	return &backoff{min: minDelay, max: max(minDelay, maxDelay), next: minDelay}
}

func (b *backoff) peek() time.Duration { return b.next }

func (b *backoff) reset() { b.next = b.min }

// wait sleeps for the current delay or until ctx ends, then doubles the delay.
func (b *backoff) wait(ctx context.Context) {
	timer := time.NewTimer(b.next)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
	b.next = min(2*b.next, b.max)
}
