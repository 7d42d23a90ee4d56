package etcdv2_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
)

// openExample opens a Store on the examples' server (in a program: the cluster's endpoints).
func openExample(ctx context.Context) (kvstore.Store, error) {
	return etcdv2.New(ctx, endpoints, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
}

// A key can hold a value and have keys below it, which the v2 API alone does not allow; each
// part is deleted on its own.
func ExampleNew() {
	ctx := context.Background()
	store, err := openExample(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	_ = store.Put(ctx, "app/db", []byte("postgres"), nil)
	_ = store.Put(ctx, "/app/db/port/", []byte("5432"), nil)
	pair, _ := store.Get(ctx, "app/db", nil)
	fmt.Printf("%s = %s\n", pair.Key, pair.Value)

	_ = store.Delete(ctx, "app/db")
	pairs, _ := store.List(ctx, "app", nil)
	for _, p := range pairs {
		fmt.Printf("%s = %s\n", p.Key, p.Value)
	}
	_ = store.DeleteTree(ctx, "app")
	_, err = store.List(ctx, "app", nil)
	fmt.Println(errors.Is(err, kvstore.ErrKeyNotFound))
	// Output:
	// app/db = postgres
	// app/db/port = 5432
	// true
}

// Watch sends the current value, then every write; a deletion is a nil pair.
func ExampleStore_Watch() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := openExample(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	_ = store.Put(ctx, "watched/mode", []byte("blue"), nil)
	events, err := store.Watch(ctx, "watched/mode", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", (<-events).Value)
	_ = store.Put(ctx, "watched/mode", []byte("green"), nil)
	fmt.Printf("%s\n", (<-events).Value)
	_ = store.Delete(ctx, "watched/mode")
	fmt.Println(<-events)
	// Output:
	// blue
	// green
	// <nil>
}

// While the lock is held, its key holds the holder's value; lost closes when the lock is lost
// or released.
func ExampleStore_NewLock() {
	ctx := context.Background()
	store, err := openExample(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	lock, _ := store.NewLock(ctx, "locks/leader", &kvstore.LockOptions{Value: []byte("replica-1"), TTL: 5 * time.Second})
	lost, err := lock.Lock(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	pair, _ := store.Get(ctx, "locks/leader", nil)
	fmt.Printf("%s is held by %s\n", pair.Key, pair.Value)

	_ = lock.Unlock(ctx)
	<-lost
	_, err = store.Get(ctx, "locks/leader", nil)
	fmt.Println(err)
	// Output:
	// locks/leader is held by replica-1
	// etcdv2 get "locks/leader": kvstore: key not found
}
