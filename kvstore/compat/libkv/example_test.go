package libkv_test

import (
	"errors"
	"fmt"

	"github.com/docker/libkv/store"

	"github.com/kvmirror/kvmirror/kvstore/compat/libkv"
	"github.com/kvmirror/kvmirror/kvstore/memstore"
)

// A libkv program runs unchanged on any kvstore.Store, here the in-memory one. kvstore returns
// keys in canonical form, so "/app/greeting" comes back as "app/greeting".
func Example() {
	backend := memstore.New()
	defer backend.Close()
	var kv store.Store = libkv.New(backend.Open())
	defer kv.Close()

	if err := kv.Put("/app/greeting", []byte("hello"), nil); err != nil {
		fmt.Println(err)
		return
	}
	pair, err := kv.Get("app/greeting")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s = %s\n", pair.Key, pair.Value)

	_, err = kv.Get("app/missing")
	fmt.Println(errors.Is(err, store.ErrKeyNotFound))
	// Output:
	// app/greeting = hello
	// true
}

// A watch ends when its stop channel is closed: the adapter then closes the event channel.
func ExampleStore_Watch() {
	backend := memstore.New()
	defer backend.Close()
	kv := libkv.New(backend.Open())
	defer kv.Close()

	if err := kv.Put("app/color", []byte("red"), nil); err != nil {
		fmt.Println(err)
		return
	}
	stop := make(chan struct{})
	events, err := kv.Watch("app/color", stop)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", (<-events).Value)
	if err := kv.Put("app/color", []byte("blue"), nil); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s\n", (<-events).Value)
	close(stop)
	for range events {
	}
	fmt.Println("closed")
	// Output:
	// red
	// blue
	// closed
}
