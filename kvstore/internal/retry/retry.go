package retry

import (
	"context"
	"math/rand/v2"
	"time"
)

// jitter is how far a wait may stray from the nominal delay, as a fraction of it.
const jitter = 0.2

// Backoff is a delay that doubles from Min up to Max after each failed attempt. The zero value
// is not useful: set Min and Max (New does). A Backoff is for one loop; it is not safe for
// concurrent use.
type Backoff struct {
	// Min is the first delay, and the delay again after Reset.
	Min time.Duration
	// Max caps the delay; no wait is longer.
	Max time.Duration
	// GiveUp, when positive, makes Wait refuse once the failures have lasted that long,
	// counted from the first Wait after New or Reset.
	GiveUp time.Duration

	delay time.Duration // 0: Min
	since time.Time     // the first Wait since New or Reset; zero before
}

// New returns a Backoff from minDelay to maxDelay (raised to minDelay), which never gives up.
func New(minDelay, maxDelay time.Duration) *Backoff {
	return &Backoff{Min: minDelay, Max: max(minDelay, maxDelay)}
}

// Delay returns the nominal delay of the next Wait.
func (b *Backoff) Delay() time.Duration {
	if b.delay == 0 {
		return b.Min
	}
	return b.delay
}

// Reset records a success: the next Wait starts again from Min, and a new count for GiveUp.
func (b *Backoff) Reset() {
	b.delay, b.since = 0, time.Time{}
}

// Wait sleeps for the current delay, within ±20% of it but never outside [Min, Max], then
// doubles the delay. It reports false, at once, when the failures have lasted longer than
// GiveUp, and false when ctx ends during the wait; true when the caller should try again.
func (b *Backoff) Wait(ctx context.Context) bool {
	now := time.Now()
	if b.since.IsZero() {
		b.since = now
	}
	if b.GiveUp > 0 && now.Sub(b.since) >= b.GiveUp {
		return false
	}
	d := b.Delay()
	b.delay = min(2*d, max(b.Min, b.Max))
	return Sleep(ctx, b.spread(d))
}

// spread returns d moved at random by up to ±jitter, kept within [Min, Max].
func (b *Backoff) spread(d time.Duration) time.Duration {
	offset := time.Duration((rand.Float64()*2 - 1) * jitter * float64(d))
	return min(max(d+offset, b.Min), max(b.Min, b.Max))
}

// Sleep waits for d or until ctx ends, and reports whether ctx is still alive.
func Sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}
