package consul_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/consul"
)

// In these examples, endpoints holds the HTTP addresses of Consul agents, such as
// []string{"10.0.0.1:8500", "10.0.0.2:8500"}; the tests point it at a server of their own.

func Example() {
	ctx := context.Background()
	store, err := consul.New(ctx, endpoints, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
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

func Example_openURL() {
	ctx := context.Background()
	// Importing package consul registers the "consul" backend with kvstore.
	store, err := kvstore.OpenURL(ctx, "consul://"+endpoints[0]+"/?timeout=5s", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	if err := store.Put(ctx, "example/url", []byte("opened by URL"), nil); err != nil {
		log.Fatal(err)
	}
	pair, err := store.Get(ctx, "example/url", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(pair.Value))
	// Output: opened by URL
}

func ExampleStore_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := consul.New(ctx, endpoints, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	key := "example/watch/feature-flag"
	if err := store.Put(ctx, key, []byte("off"), nil); err != nil {
		log.Fatal(err)
	}
	events, err := store.Watch(ctx, key, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("current: %s\n", (<-events).Value)
	if err := store.Put(ctx, key, []byte("on"), nil); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("changed: %s\n", (<-events).Value)
	if err := store.Delete(ctx, key); err != nil {
		log.Fatal(err)
	}
	// A deletion arrives as a nil pair.
	fmt.Printf("deleted: %v\n", <-events == nil)
	// Output:
	// current: off
	// changed: on
	// deleted: true
}

func ExampleStore_NewLock() {
	ctx := context.Background()
	store, err := consul.New(ctx, endpoints, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	lock, err := store.NewLock(ctx, "example/lock/leader", &kvstore.LockOptions{Value: []byte("replica-1"), TTL: 15 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	lost, err := lock.Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	// While the lock is held, its key holds the lock's value.
	pair, err := store.Get(ctx, "example/lock/leader", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("leader: %s\n", pair.Value)
	if err := lock.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	<-lost // closed by Unlock, or when the lock is lost
	// The lock's session took its key with it.
	_, err = store.Get(ctx, "example/lock/leader", nil)
	fmt.Println("key gone after Unlock:", errors.Is(err, kvstore.ErrKeyNotFound))
	// Output:
	// leader: replica-1
	// key gone after Unlock: true
}
