package lifecycle_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/lifecycle"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEndWaitsForWorkers: End ends Context and every bound context at once, then returns only
// once every tracked worker, and every child a worker started after End, has called Done.
// Track then refuses; calling End again returns at once.
func TestEndWaitsForWorkers(t *testing.T) {
	t.Parallel()
	life := lifecycle.New()
	if life.Ended() || !life.Track() {
		t.Fatal("a new Life has ended")
	}
	bound, cancel := life.Bind(context.Background())
	defer cancel()
	release := make(chan struct{})
	childDone := make(chan struct{})
	go func() {
		defer life.Done()
		<-bound.Done() // End was called
		life.AddChild()
		go func() {
			defer life.Done()
			<-release
			close(childDone)
		}()
	}()

	ended := make(chan struct{})
	go func() {
		_ = life.End()
		close(ended)
	}()
	select {
	case <-ended:
		t.Fatal("End returned while a worker's child ran")
	case <-time.After(100 * time.Millisecond):
	}
	if !life.Ended() || life.Context().Err() == nil || bound.Err() == nil {
		t.Errorf("during End: Ended %v, Context %v, bound %v; want ended", life.Ended(), life.Context().Err(), bound.Err())
	}
	if life.Track() {
		t.Error("Track accepted a worker after End")
	}
	close(release)
	<-ended
	select {
	case <-childDone:
	default:
		t.Error("End returned before the child called Done")
	}
	_ = life.End()
}

// TestBind: a bound context ends with its parent too, and its cancel function ends it without
// ending the Life.
func TestBind(t *testing.T) {
	t.Parallel()
	life := lifecycle.New()
	defer func() { _ = life.End() }()
	parent, cancelParent := context.WithCancel(context.Background())
	bound, cancel := life.Bind(parent)
	defer cancel()
	cancelParent()
	if bound.Err() == nil {
		t.Error("bound context alive after its parent ended")
	}
	other, cancelOther := life.Bind(context.Background())
	cancelOther()
	if other.Err() == nil || life.Ended() {
		t.Errorf("after cancel: bound %v, Life ended %v; want the bound one ended only", other.Err(), life.Ended())
	}
}

// TestClose: Close refuses calls, goroutines and holds with kvstore.ErrClosed afterwards,
// releases what is held (not what was dropped), ends bound goroutines, runs finish once, and
// returns the same outcome to every caller.
func TestClose(t *testing.T) {
	t.Parallel()
	life := lifecycle.New()
	released, dropped := 0, 0
	if err := life.Hold("kept", func() error { released++; return nil }); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if err := life.Hold("dropped", func() error { dropped++; return nil }); err != nil {
		t.Fatalf("Hold: %v", err)
	}
	life.Drop("dropped")
	stopped := make(chan struct{})
	if err := life.Go(context.Background(), func(ctx context.Context) {
		<-ctx.Done()
		if !errors.Is(context.Cause(ctx), kvstore.ErrClosed) {
			t.Errorf("bound context's cause %v, want ErrClosed", context.Cause(ctx))
		}
		close(stopped)
	}); err != nil {
		t.Fatalf("Go: %v", err)
	}
	finished := 0
	finish := func() error { finished++; return errors.New("finish failed") }
	for range 2 {
		if err := life.Close(finish); err == nil || err.Error() != "finish failed" {
			t.Errorf("Close = %v, want the first call's error", err)
		}
	}
	select {
	case <-stopped:
	default:
		t.Error("Close returned before the bound goroutine ended")
	}
	if released != 1 || dropped != 0 || finished != 1 {
		t.Errorf("released %d, dropped one released %d, finish ran %d; want 1, 0, 1", released, dropped, finished)
	}
	if _, _, err := life.Enter(context.Background()); !errors.Is(err, kvstore.ErrClosed) {
		t.Errorf("Enter after Close: %v, want ErrClosed", err)
	}
	if err := life.Go(context.Background(), func(context.Context) {}); !errors.Is(err, kvstore.ErrClosed) {
		t.Errorf("Go after Close: %v, want ErrClosed", err)
	}
	if err := life.Hold("late", func() error { return nil }); !errors.Is(err, kvstore.ErrClosed) {
		t.Errorf("Hold after Close: %v, want ErrClosed", err)
	}
	if _, err := life.Normalize("test", "a"); !errors.Is(err, kvstore.ErrClosed) {
		t.Errorf("Normalize after Close: %v, want ErrClosed", err)
	}
}
