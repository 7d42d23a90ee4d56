package valkeyrie_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/kvtools/valkeyrie/store"

	"github.com/kvmirror/kvmirror/kvstore/compat/valkeyrie"
	"github.com/kvmirror/kvmirror/kvstore/memstore"
)

// A valkeyrie program runs unchanged on any kvstore.Store, here the in-memory one, and sees
// valkeyrie's own error values.
func Example() {
	ctx := context.Background()
	backend := memstore.New()
	defer backend.Close()
	var kv store.Store = valkeyrie.New(backend.Open())
	defer func() { _ = kv.Close() }()

	ok, pair, err := kv.AtomicPut(ctx, "app/counter", []byte("1"), nil, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ok, pair.Key)

	_, _, err = kv.AtomicPut(ctx, "app/counter", []byte("1"), nil, nil)
	fmt.Println(errors.Is(err, store.ErrKeyExists))

	ok, _, err = kv.AtomicPut(ctx, "app/counter", []byte("2"), pair, nil)
	fmt.Println(ok, err)

	pairs, err := kv.List(ctx, "app", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pairs {
		fmt.Printf("%s = %s\n", p.Key, p.Value)
	}
	// Output:
	// true app/counter
	// true
	// true <nil>
	// app/counter = 2
}
