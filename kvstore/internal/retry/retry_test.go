package retry_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestBackoffDoubles: the delay doubles from Min to Max and Reset brings it back.
func TestBackoffDoubles(t *testing.T) {
	t.Parallel()
	b := retry.New(time.Millisecond, 4*time.Millisecond)
	want := []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 4 * time.Millisecond}
	for i, w := range want {
		if got := b.Delay(); got != w {
			t.Fatalf("delay %d = %v, want %v", i, got, w)
		}
		if !b.Wait(t.Context()) {
			t.Fatalf("Wait %d gave up", i)
		}
	}
	b.Reset()
	if got := b.Delay(); got != time.Millisecond {
		t.Errorf("after Reset: delay %v, want 1ms", got)
	}
}

// TestBackoffJitter: waits stay within [Min, Max] and are not all the same, so that loops cut
// by one outage do not retry in lockstep.
func TestBackoffJitter(t *testing.T) {
	t.Parallel()
	const d = 20 * time.Millisecond
	seen := map[time.Duration]bool{}
	for range 8 {
		b := retry.New(d/2, 2*d)
		b.Wait(t.Context()) // from Min to 2×Min
		start := time.Now()
		b.Wait(t.Context()) // around d
		took := time.Since(start)
		if took < time.Duration(0.8*float64(d)) {
			t.Errorf("wait of %v around %v; want no less than 80%%", took, d)
		}
		seen[took.Round(time.Millisecond)] = true
	}
	if len(seen) < 2 {
		t.Errorf("8 waits all took %v: no jitter", seen)
	}
}

// TestBackoffGiveUp: Wait refuses once failures have lasted GiveUp.
func TestBackoffGiveUp(t *testing.T) {
	t.Parallel()
	b := &retry.Backoff{Min: 5 * time.Millisecond, Max: 5 * time.Millisecond, GiveUp: 20 * time.Millisecond}
	deadline := time.Now().Add(5 * time.Second)
	for b.Wait(t.Context()) {
		if time.Now().After(deadline) {
			t.Fatal("Wait still retrying after 5s with GiveUp 20ms")
		}
	}
	b.Reset()
	if !b.Wait(t.Context()) {
		t.Error("Wait gave up right after Reset")
	}
}

// TestSleep: Sleep reports false as soon as ctx ends.
func TestSleep(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if retry.Sleep(ctx, time.Minute) {
		t.Error("Sleep on an ended context reported true")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Sleep on an ended context took %v", took)
	}
	if !retry.Sleep(t.Context(), time.Millisecond) {
		t.Error("Sleep reported false on a live context")
	}
}
