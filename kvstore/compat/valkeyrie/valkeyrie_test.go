package valkeyrie_test

import (
	"errors"
	"testing"
	"time"

	"github.com/kvtools/valkeyrie/store"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/compat/valkeyrie"
	"github.com/kvmirror/kvmirror/kvstore/memstore"
)

func newMem(t *testing.T) *valkeyrie.Store {
	backend := memstore.New()
	t.Cleanup(backend.Close)
	st := valkeyrie.New(backend.Open())
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// KeepAlive has no kvstore counterpart: ignoring it would let a key expire that its writer
// expects to live.
func TestKeepAliveRefused(t *testing.T) {
	st := newMem(t)
	err := st.Put(t.Context(), "k", []byte("v"), &store.WriteOptions{TTL: time.Minute, KeepAlive: true})
	if !errors.Is(err, store.ErrCallNotSupported) {
		t.Fatalf("Put with KeepAlive: %v, want ErrCallNotSupported", err)
	}
	if ok, err := st.Exists(t.Context(), "k", nil); err != nil || ok {
		t.Fatalf("Exists after a refused Put = %v, %v; want false, nil", ok, err)
	}
}

// Errors without a valkeyrie sentinel keep kvstore's.
func TestClosedIsKvstoreError(t *testing.T) {
	st := newMem(t)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(t.Context(), "k", nil); !errors.Is(err, kvstore.ErrClosed) {
		t.Fatalf("Get after Close: %v, want kvstore.ErrClosed", err)
	}
}
