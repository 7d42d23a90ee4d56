package leadership_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/boltdb"
	"github.com/kvmirror/kvmirror/kvstore/leadership"
)

// Two candidates share one election; the first one in leads, and a follower reads who it is.
// When the leader resigns, the other candidate takes over.
func Example() {
	dir, _ := os.MkdirTemp("", "leadership-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	openStore := func() kvstore.Store {
		store, err := boltdb.New(ctx, []string{filepath.Join(dir, "kv.db")}, &kvstore.Config{Bucket: "example"})
		if err != nil {
			panic(err)
		}
		return store
	}
	storeA, storeB := openStore(), openStore()
	defer storeA.Close()
	defer storeB.Close()

	a, _ := leadership.NewCandidate(storeA, leadership.Config{Key: "operator/leader", Identity: "replica-a"})
	ctxA, resignA := context.WithCancel(ctx)
	eventsA := a.Campaign(ctxA)
	fmt.Println("replica-a elected:", <-eventsA)

	b, _ := leadership.NewCandidate(storeB, leadership.Config{Key: "operator/leader", Identity: "replica-b"})
	ctxB, resignB := context.WithCancel(ctx)
	eventsB := b.Campaign(ctxB)

	leader, _ := leadership.NewFollower(storeB, "operator/leader").Leader(ctx)
	fmt.Println("leader:", leader)

	resignA()
	for range eventsA { // drained until Campaign has released the lock
	}
	fmt.Println("replica-b elected:", <-eventsB)
	leader, _ = leadership.NewFollower(storeA, "operator/leader").Leader(ctx)
	fmt.Println("leader:", leader)

	resignB()
	for range eventsB {
	}
	// Output:
	// replica-a elected: true
	// leader: replica-a
	// replica-b elected: true
	// leader: replica-b
}
