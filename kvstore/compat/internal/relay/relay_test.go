package relay_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/compat/internal/relay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// forward starts a Forward of an int channel that nobody closes, and returns the output and a
// channel closed when Forward cancels its source.
func forward(t *testing.T, g *relay.Group, stop <-chan struct{}) (chan<- int, <-chan string, <-chan struct{}) {
	t.Helper()
	in := make(chan int)
	cancelled := make(chan struct{})
	out, err := relay.Forward(g, stop, in, func() { close(cancelled) }, func(i int) string { return string(rune('a' + i)) })
	if err != nil {
		t.Fatal(err)
	}
	return in, out, cancelled
}

func receive[T any](t *testing.T, ch <-chan T) (T, bool) {
	t.Helper()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-time.After(5 * time.Second):
		t.Fatal("nothing received within 5s")
		panic("unreachable")
	}
}

func TestForwardConvertsUntilStop(t *testing.T) {
	g := relay.NewGroup()
	defer g.Close()
	stop := make(chan struct{})
	in, out, cancelled := forward(t, g, stop)
	in <- 1
	if v, _ := receive(t, out); v != "b" {
		t.Fatalf("got %q, want %q", v, "b")
	}
	close(stop)
	if _, ok := receive(t, out); ok {
		t.Fatal("output not closed after stop")
	}
	receive(t, cancelled)
}

func TestGroupCloseEndsForwards(t *testing.T) {
	g := relay.NewGroup()
	in, out, cancelled := forward(t, g, nil)
	in <- 0 // held in the goroutine: nobody receives it
	g.Close()
	receive(t, cancelled)
	if _, ok := <-out; ok {
		t.Fatal("output not closed by Close")
	}
	g.Close() // idempotent
	if _, err := relay.Forward(g, nil, make(chan int), func() {}, func(i int) int { return i }); !errors.Is(err, kvstore.ErrClosed) {
		t.Fatalf("Forward on a closed Group: %v, want ErrClosed", err)
	}
	if _, _, err := g.Bind(nil); !errors.Is(err, kvstore.ErrClosed) {
		t.Fatalf("Bind on a closed Group: %v, want ErrClosed", err)
	}
}

func TestBind(t *testing.T) {
	g := relay.NewGroup()
	defer g.Close()

	stop := make(chan struct{})
	ctx, release, err := g.Bind(stop)
	if err != nil {
		t.Fatal(err)
	}
	stop <- struct{}{} // a send stops it as a close does
	receive(t, ctx.Done())
	release()

	ctx, release, err = g.Bind(nil)
	if err != nil {
		t.Fatal(err)
	}
	release()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("ctx after release: %v, want Canceled", ctx.Err())
	}
}
