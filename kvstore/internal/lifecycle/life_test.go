package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

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
		life.End()
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
	life.End()
}

// TestBind: a bound context ends with its parent too, and its cancel function ends it without
// ending the Life.
func TestBind(t *testing.T) {
	t.Parallel()
	life := lifecycle.New()
	defer life.End()
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
