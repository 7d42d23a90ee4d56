package boltdb_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/boltdb"
)

// Keys are paths: however they are spelled, the Store returns them canonical. List returns
// everything below a directory, at any depth, sorted.
func Example() {
	dir, err := os.MkdirTemp("", "kvmirror-example")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()

	ctx := context.Background()
	store, err := boltdb.New(ctx, []string{filepath.Join(dir, "kv.db")}, &kvstore.Config{Bucket: "app"})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = store.Close() }()

	_ = store.Put(ctx, "/config/db/host", []byte("10.0.0.7"), nil)
	_ = store.Put(ctx, "config/db/port", []byte("5432"), nil)
	_ = store.Put(ctx, "config/mode", []byte("fast"), nil)

	pair, err := store.Get(ctx, "config//db/host/", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s = %s\n", pair.Key, pair.Value)

	pairs, err := store.List(ctx, "config/db", nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range pairs {
		fmt.Printf("%s = %s (index %d)\n", p.Key, p.Value, p.LastIndex)
	}
	// Output:
	// config/db/host = 10.0.0.7
	// config/db/host = 10.0.0.7 (index 1)
	// config/db/port = 5432 (index 2)
}

// A Watch sends the current value first (nothing here: the key does not exist yet), then one
// pair per write, and nil when the key is deleted. Stores of one process on one file see each
// other's writes.
func ExampleStore_Watch() {
	dir, err := os.MkdirTemp("", "kvmirror-example")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	path := filepath.Join(dir, "kv.db")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watcher, err := boltdb.New(ctx, []string{path}, &kvstore.Config{Bucket: "app"})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = watcher.Close() }()
	writer, err := boltdb.New(ctx, []string{path}, &kvstore.Config{Bucket: "app"})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = writer.Close() }()

	events, err := watcher.Watch(ctx, "feature/flag", nil)
	if err != nil {
		log.Fatal(err)
	}
	_ = writer.Put(ctx, "feature/flag", []byte("on"), nil)
	_ = writer.Put(ctx, "feature/flag", []byte("off"), nil)
	_ = writer.Delete(ctx, "feature/flag")

	for range 3 {
		if pair := <-events; pair != nil {
			fmt.Printf("%s = %s\n", pair.Key, pair.Value)
		} else {
			fmt.Println("deleted")
		}
	}
	cancel() // ends the watch; the Store closes the channel
	for range events {
	}
	// Output:
	// feature/flag = on
	// feature/flag = off
	// deleted
}
