package libkv_test

import (
	"testing"
	"time"

	"github.com/docker/libkv/store"

	"github.com/kvmirror/kvmirror/kvstore/compat/libkv"
	"github.com/kvmirror/kvmirror/kvstore/memstore"
)

// A Lock waiting behind another holder ends when its stopChan is closed, and fails.
func TestLockStopChan(t *testing.T) {
	backend := memstore.New()
	t.Cleanup(backend.Close)
	holder, waiter := libkv.New(backend.Open()), libkv.New(backend.Open())
	t.Cleanup(holder.Close)
	t.Cleanup(waiter.Close)

	held, err := holder.NewLock("lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.Lock(nil); err != nil {
		t.Fatal(err)
	}
	lock, err := waiter.NewLock("lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	time.AfterFunc(100*time.Millisecond, func() { close(stop) })
	if lost, err := lock.Lock(stop); err == nil || lost != nil {
		t.Fatalf("Lock stopped while held elsewhere = %v, %v; want nil and an error", lost, err)
	}
	if err := held.Unlock(); err != nil {
		t.Fatal(err)
	}
	if _, err := waiter.Get("missing"); err != store.ErrKeyNotFound { //nolint:errorlint // libkv's callers compare with ==
		t.Fatalf("Get of a missing key: %v, want store.ErrKeyNotFound itself", err)
	}
}
