package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/memstore"
)

// Unit tests of the parts of a sync that need no API server: the prefix, the listing, the
// outcomes and the watch loop, on the in-memory Store.

func TestMirrorPrefix(t *testing.T) {
	for _, tt := range []struct {
		prefix, want string
		wantErr      string
	}{
		{prefix: "app", want: "app"},
		{prefix: "/app//config/", want: "app/config"},
		{prefix: "", wantErr: "the root cannot be mirrored"},
		{prefix: "/", wantErr: "the root cannot be mirrored"},
	} {
		m := &v1alpha1.KVMirror{Spec: v1alpha1.KVMirrorSpec{Prefix: tt.prefix}}
		got, err := mirrorPrefix(m)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "prefix ") {
				t.Errorf("mirrorPrefix(%q) error = %v, want %q", tt.prefix, err, tt.wantErr)
			}
		case err != nil || got != tt.want:
			t.Errorf("mirrorPrefix(%q) = %q, %v; want %q", tt.prefix, got, err, tt.want)
		}
	}
}

func TestListPrefix(t *testing.T) {
	b := memstore.New()
	defer b.Close()
	s := b.Open()
	defer s.Close()

	pairs, err := listPrefix(t.Context(), s, "app", time.Second)
	if err != nil || pairs != nil {
		t.Fatalf("empty prefix: %v, %v; want an empty listing", pairs, err)
	}
	for _, k := range []string{"app/b", "app/a/x", "apple/y"} {
		if err := s.Put(t.Context(), k, []byte(k), nil); err != nil {
			t.Fatal(err)
		}
	}
	pairs, err = listPrefix(t.Context(), s, "app", time.Second)
	if err != nil || len(pairs) != 2 || pairs[0].Key != "app/a/x" || pairs[1].Key != "app/b" {
		t.Fatalf("listPrefix = %v, %v; want app/a/x and app/b", pairs, err)
	}
	_ = s.Close()
	if _, err := listPrefix(t.Context(), s, "app", time.Second); !errors.Is(err, kvstore.ErrClosed) {
		t.Fatalf("closed Store: %v, want ErrClosed", err)
	}
}

func TestOutcomes(t *testing.T) {
	m := &v1alpha1.KVMirror{}
	m.Name = "cfg"
	big := &mirrored{Keys: 3, Bytes: MaxConfigMapBytes + 1}
	if res := tooLarge("app", big); res.reason != v1alpha1.ReasonTooLarge || res.mapped != nil || res.err != nil {
		t.Errorf("tooLarge = %+v", res)
	}
	res := synced(m, "app", &mirrored{Keys: 2}, true)
	if res.reason != v1alpha1.ReasonSynced || !res.wrote || res.message != `ConfigMap "cfg" holds the 2 keys below "app"` {
		t.Errorf("synced = %+v", res)
	}
	res = synced(m, "app", &mirrored{Keys: 2, Skipped: []v1alpha1.SkippedKey{{Key: "app/bad key"}}}, false)
	if res.reason != v1alpha1.ReasonInvalidKeys || res.mapped == nil || !strings.HasPrefix(res.message, "1 keys below") {
		t.Errorf("synced with skipped keys = %+v", res)
	}
}

func TestFailedRetriesOnlyWhatTimeCanCure(t *testing.T) {
	for _, tt := range []struct {
		err   error
		retry bool
	}{
		{failure(v1alpha1.ReasonSecretNotFound, "gone"), false},
		{failure(v1alpha1.ReasonInvalidSecret, "bad"), false},
		{failure(v1alpha1.ReasonTargetConflict, "taken"), false},
		{kvstore.ErrUnknownBackend, false},
		{kvstore.ErrUnreachable, true},
		{kvstore.ErrPermissionDenied, true},
		{apiError("update: %w", errors.New("conflict")), true},
	} {
		if res := failed(tt.err); (res.err != nil) != tt.retry || res.message != tt.err.Error() {
			t.Errorf("failed(%v) = %+v, want retry %v", tt.err, res, tt.retry)
		}
	}
}

func TestRestartBackoff(t *testing.T) {
	const minDelay, maxDelay = 100 * time.Millisecond, 700 * time.Millisecond
	b := restartBackoff(minDelay, maxDelay)
	base := minDelay
	for i := range 6 {
		d := b.Step()
		if d < base || d > base+base/10 {
			t.Fatalf("step %d: %s, want %s plus at most 10%%", i, d, base)
		}
		base = min(2*base, maxDelay)
	}
}

// memOpen opens Stores of one memstore Backend and keeps the last one, so that a test can close
// it under the watch.
type memOpen struct {
	b    *memstore.Backend
	last chan kvstore.Store
}

func (o *memOpen) open(context.Context, string, []string, *kvstore.Config) (kvstore.Store, error) {
	s := o.b.Open()
	o.last <- s
	return s, nil
}

func TestWatchNotifiesAndRestarts(t *testing.T) {
	b := memstore.New()
	defer b.Close()
	opener := &memOpen{b: b, last: make(chan kvstore.Store, 1)}
	p := newPool(opener.open)
	defer p.closeAll()
	w := newWatches(10*time.Millisecond, 50*time.Millisecond)
	defer w.stopAll()
	mirror := types.NamespacedName{Namespace: "ns", Name: "m"}

	l, err := p.acquire(t.Context(), &backendConfig{backend: "memstore", key: "k", label: "memstore://"})
	if err != nil {
		t.Fatal(err)
	}
	w.ensure(t.Context(), mirror, []*lease{l}, "app")
	l.Release()
	store := <-opener.last
	expectEvent(t, w, mirror) // the first snapshot
	if _, ok := w.takeEventTime(mirror); !ok {
		t.Error("no event time recorded for the snapshot")
	}

	writer := b.Open()
	defer writer.Close()
	if err := writer.Put(t.Context(), "app/x", []byte("1"), nil); err != nil {
		t.Fatal(err)
	}
	expectEvent(t, w, mirror)

	// A Store gone under the watch: the mirror is told at once and again at every retry.
	_ = store.Close()
	expectEvent(t, w, mirror)
	expectEvent(t, w, mirror)
	if w.count() != 1 {
		t.Errorf("%d watches, want the one still retrying", w.count())
	}
	w.stop(mirror)
	if w.count() != 0 || p.refs("k") != 0 {
		t.Errorf("after stop: %d watches, %d leases; want none", w.count(), p.refs("k"))
	}
}

func expectEvent(t *testing.T, w *watches, mirror types.NamespacedName) {
	t.Helper()
	select {
	case ev := <-w.events:
		if ev.Object.Namespace != mirror.Namespace || ev.Object.Name != mirror.Name {
			t.Fatalf("event for %s/%s, want %s", ev.Object.Namespace, ev.Object.Name, mirror)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no event for %s", mirror)
	}
}
