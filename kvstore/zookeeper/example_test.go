package zookeeper_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

// In these examples, endpoints holds the addresses of a ZooKeeper ensemble, such as
// []string{"10.0.0.1:2181", "10.0.0.2:2181"}; the tests point it at a server of their own.

func Example() {
	ctx := context.Background()
	store, err := zookeeper.New(ctx, endpoints, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	if err := store.Put(ctx, "example/app/greeting", []byte("hello"), nil); err != nil {
		log.Fatal(err)
	}
	// Leading, trailing and repeated slashes do not matter; keys come back canonical.
	pair, err := store.Get(ctx, "/example//app/greeting/", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s = %s\n", pair.Key, pair.Value)
	// Output: example/app/greeting = hello
}

func Example_chroot() {
	ctx := context.Background()
	// A path after an endpoint is the Store's root, as in ZooKeeper connection strings.
	store, err := kvstore.OpenURL(ctx, "zk://"+endpoints[0], nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	team, err := zookeeper.New(ctx, []string{endpoints[0] + "/example/teams/blue"}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer team.Close()

	if err := team.Put(ctx, "config/replicas", []byte("3"), nil); err != nil {
		log.Fatal(err)
	}
	pair, err := store.Get(ctx, "example/teams/blue/config/replicas", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s = %s\n", pair.Key, pair.Value)
	// Output: example/teams/blue/config/replicas = 3
}

func ExampleStore_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := zookeeper.New(ctx, endpoints, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	events, err := store.Watch(ctx, "example/watched", nil)
	if err != nil {
		log.Fatal(err)
	}
	// The key does not exist yet: the watch waits for it.
	if err := store.Put(ctx, "example/watched", []byte("v1"), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", (<-events).Value)
	if err := store.Delete(ctx, "example/watched"); err != nil {
		log.Fatal(err)
	}
	// A deletion is a nil pair.
	fmt.Println(<-events == nil)
	// Output:
	// v1
	// true
}

func ExampleStore_NewLock() {
	ctx := context.Background()
	store, err := zookeeper.New(ctx, endpoints, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	lock, err := store.NewLock(ctx, "example/leader", &kvstore.LockOptions{Value: []byte("node-1"), TTL: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	lost, err := lock.Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// While the lock is held, its key holds the lock's value.
	pair, err := store.Get(ctx, "example/leader", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leader: %s\n", pair.Value)

	if err := lock.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	<-lost // closed on Unlock, or as soon as the lock is lost
	_, err = store.Get(ctx, "example/leader", nil)
	fmt.Println(err != nil)
	// Output:
	// leader: node-1
	// true
}
