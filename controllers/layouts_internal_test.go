package controllers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/memstore"
)

// Unit tests of reading an etcd mirror in both key layouts, on the in-memory Store.

func TestLayouts(t *testing.T) {
	base := &backendConfig{backend: "etcd", key: "k", label: "etcd://e:2379"}
	got := base.layouts()
	if len(got) != 2 {
		t.Fatalf("etcd: %d configurations, want one per layout", len(got))
	}
	slash, plain := got[0], got[1]
	if slash.store.KeyLayout != kvstore.KeyLayoutSlash || plain.store.KeyLayout != kvstore.KeyLayoutPlain {
		t.Errorf("layouts %q, %q; want slash, plain", slash.store.KeyLayout, plain.store.KeyLayout)
	}
	if slash.key != base.key || plain.key == base.key || plain.key == "" {
		t.Errorf("pool keys %q, %q; want the configuration's for slash and another for plain", slash.key, plain.key)
	}
	if slash.label != "etcd://e:2379?layout=slash" || plain.label != "etcd://e:2379?layout=plain" {
		t.Errorf("labels %q, %q", slash.label, plain.label)
	}
	if base.store.KeyLayout != "" || base.label != "etcd://e:2379" {
		t.Errorf("layouts changed the configuration: %+v", base)
	}
	for _, b := range []string{"etcdv2", "consul", "zookeeper", "boltdb"} {
		cfg := &backendConfig{backend: b, key: "k"}
		if got := cfg.layouts(); len(got) != 1 || got[0] != cfg {
			t.Errorf("%s: %d configurations, want itself only", b, len(got))
		}
	}
}

func TestMergeListings(t *testing.T) {
	slash := inLayout(kvstore.KeyLayoutSlash, pairs("p/b", "s", "p/d", "s"))
	plain := inLayout(kvstore.KeyLayoutPlain, pairs("p/a", "p", "p/b", "p", "p/c", "p"))
	var got []string
	for _, p := range mergeListings([][]listed{slash, plain}) {
		got = append(got, p.Key+"="+string(p.Value))
	}
	if want := []string{"p/a=p", "p/b=s", "p/b=p", "p/c=p", "p/d=s"}; !slices.Equal(got, want) {
		t.Errorf("merged %q, want %q", got, want)
	}
}

func TestMapBothLayouts(t *testing.T) {
	in := mergeListings([][]listed{
		inLayout(kvstore.KeyLayoutSlash, pairs("app/db.port", "1", "app/both", "s", "app/a.b", "s")),
		inLayout(kvstore.KeyLayoutPlain, pairs("app/db.host", "x", "app/both", "p", "app/a/b", "p")),
	})
	m := mapPairs("app", in, ".")
	if len(m.Data) != 2 || m.Data["db.port"] != "1" || m.Data["db.host"] != "x" || m.Keys != 2 {
		t.Fatalf("data = %v, want db.port and db.host only", m.Data)
	}
	want := []struct{ key, form string }{
		{"a.b", `this is etcd key "/app/a.b" (slash layout)`},
		{"a/b", `this is etcd key "app/a/b" (plain layout)`},
		{"both", `this is etcd key "/app/both" (slash layout)`},
		{"both", `this is etcd key "app/both" (plain layout)`},
	}
	if len(m.Skipped) != len(want) {
		t.Fatalf("skipped = %+v, want %d", m.Skipped, len(want))
	}
	for i, w := range want {
		s := m.Skipped[i]
		if s.Key != w.key || s.Reason != v1alpha1.SkipCollision || !strings.HasPrefix(s.Message, w.form+"; ") ||
			!strings.Contains(s.Message, "map to ConfigMap key") {
			t.Errorf("skipped[%d] = %+v, want key %q, a collision, message starting %q", i, s, w.key, w.form)
		}
	}
	// Only the key written in both forms is said to be.
	const both = "written both with and without a leading slash"
	if strings.Contains(m.Skipped[0].Message, both) || !strings.Contains(m.Skipped[2].Message, both) {
		t.Errorf("messages %q and %q: only the second should say %q", m.Skipped[0].Message, m.Skipped[2].Message, both)
	}
}

// layoutOpen opens memstore Stores: the slash layout's on one Backend, the plain layout's on
// another, or fails for the plain layout when failPlain is set.
type layoutOpen struct {
	slash, plain *memstore.Backend
	failPlain    bool
}

func (o *layoutOpen) open(_ context.Context, _ string, _ []string, cfg *kvstore.Config) (kvstore.Store, error) {
	if cfg.KeyLayout != kvstore.KeyLayoutPlain {
		return o.slash.Open(), nil
	}
	if o.failPlain {
		return nil, kvstore.ErrUnreachable
	}
	return o.plain.Open(), nil
}

func TestReadBothLayouts(t *testing.T) {
	opener := &layoutOpen{slash: memstore.New(), plain: memstore.New()}
	defer opener.slash.Close()
	defer opener.plain.Close()
	for b, key := range map[*memstore.Backend]string{opener.slash: "app/db.port", opener.plain: "app/db.host"} {
		s := b.Open()
		if err := s.Put(t.Context(), key, []byte(key), nil); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	}
	r := &Reconciler{pool: newPool(opener.open), watches: newWatches(time.Second, time.Second), backends: newBackendGauges()}
	// No controller takes the watches' snapshots here: their sends end with the watches.
	defer func() {
		r.watches.stopAll()
		r.pool.closeAll()
	}()
	mirror := types.NamespacedName{Namespace: "ns", Name: "m"}
	cfg := &backendConfig{backend: "etcd", key: "k", label: "etcd://e"}

	got, err := r.read(t.Context(), mirror, cfg, "app")
	if err != nil || len(got) != 2 || got[0].Key != "app/db.host" || got[0].layout != kvstore.KeyLayoutPlain ||
		got[1].Key != "app/db.port" || got[1].layout != kvstore.KeyLayoutSlash {
		t.Fatalf("read = %+v, %v; want app/db.host (plain) and app/db.port (slash)", got, err)
	}
	if up, _ := gaugeSeries(backendUp, map[string]string{"backend": "etcd://e"}); up != 1 {
		t.Errorf("backend up = %v after reading both layouts, want 1", up)
	}

	r.watches.stop(mirror)
	r.pool.closeAll()
	opener.failPlain = true
	r.pool = newPool(opener.open)
	if _, err := r.read(t.Context(), mirror, cfg, "app"); !errors.Is(err, kvstore.ErrUnreachable) ||
		!strings.Contains(err.Error(), "layout=plain") {
		t.Errorf("read with the plain layout unreachable: %v, want ErrUnreachable naming it", err)
	}
	if up, _ := gaugeSeries(backendUp, map[string]string{"backend": "etcd://e"}); up != 0 {
		t.Errorf("backend up = %v with the plain layout unreachable, want 0", up)
	}
	if r.pool.size() != 0 {
		t.Errorf("%d Stores open after a failed read, want none", r.pool.size())
	}
}
