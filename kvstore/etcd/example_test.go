package etcd_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
)

// In these examples, endpoints holds the addresses of an etcd cluster, such as
// []string{"10.0.0.1:2379", "10.0.0.2:2379"}; the tests point it at a server of their own.

func Example() {
	ctx := context.Background()
	store, err := etcd.New(ctx, endpoints, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
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
	// Importing package etcd registers the "etcd" backend with kvstore.
	store, err := kvstore.OpenURL(ctx, "etcd://"+endpoints[0]+"/?timeout=5s", nil)
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

// A Store in the plain key layout reads and writes keys as etcdctl put and most etcd v3
// libraries name them: "example/plain/db.host", not "/example/plain/db.host".
func Example_plainLayout() {
	ctx := context.Background()
	store, err := kvstore.OpenURL(ctx, "etcd://"+endpoints[0]+"/?layout=plain", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// The same key is the etcd key "example/plain/db.host": etcdctl get example/plain/db.host
	// shows it.
	if err := store.Put(ctx, "example/plain/db.host", []byte("10.0.0.5"), nil); err != nil {
		log.Fatal(err)
	}
	pairs, err := store.List(ctx, "example/plain", nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range pairs {
		fmt.Printf("%s = %s\n", p.Key, p.Value)
	}
	// Output: example/plain/db.host = 10.0.0.5
}

func ExampleStore_List() {
	ctx := context.Background()
	store, err := etcd.New(ctx, endpoints, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	for key, value := range map[string]string{
		"example/list/app/name":        "shop",
		"example/list/app/db/host":     "db.local",
		"example/list/apple/variety":   "gala", // a sibling: not below "app"
		"example/list/app/db/replicas": "3",
	} {
		if err := store.Put(ctx, key, []byte(value), nil); err != nil {
			log.Fatal(err)
		}
	}
	pairs, err := store.List(ctx, "example/list/app", nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, pair := range pairs {
		fmt.Printf("%s = %s\n", pair.Key, pair.Value)
	}
	// Output:
	// example/list/app/db/host = db.local
	// example/list/app/db/replicas = 3
	// example/list/app/name = shop
}

func ExampleStore_Watch() {
	ctx := context.Background()
	store, err := etcd.New(ctx, endpoints, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.DeleteTree(ctx, "example/watch"); err != nil {
		log.Fatal(err)
	}

	// Ending the context closes the channel.
	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := store.Watch(watchCtx, "example/watch/leader", nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, value := range []string{"node-1", "node-2"} {
		if err := store.Put(ctx, "example/watch/leader", []byte(value), nil); err != nil {
			log.Fatal(err)
		}
	}
	if err := store.Delete(ctx, "example/watch/leader"); err != nil {
		log.Fatal(err)
	}
	for range 3 {
		pair := <-events
		if pair == nil {
			fmt.Println("deleted") // a deletion is a nil pair
			continue
		}
		fmt.Printf("%s = %s\n", pair.Key, pair.Value)
	}
	// Output:
	// example/watch/leader = node-1
	// example/watch/leader = node-2
	// deleted
}

func ExampleStore_NewLock() {
	ctx := context.Background()
	store, err := etcd.New(ctx, endpoints, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	lock, err := store.NewLock(ctx, "example/lock/leader", &kvstore.LockOptions{
		Value: []byte("replica-a"), // what Get returns while the lock is held
		TTL:   5 * time.Second,     // how long the lock outlives a holder that died
	})
	if err != nil {
		log.Fatal(err)
	}
	lost, err := lock.Lock(ctx)
	if err != nil {
		log.Fatal(err)
	}
	pair, err := store.Get(ctx, "example/lock/leader", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("held by %s\n", pair.Value)

	// A holder works until lost closes; Unlock closes it too.
	if err := lock.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	<-lost
	fmt.Println("released")
	// Output:
	// held by replica-a
	// released
}
