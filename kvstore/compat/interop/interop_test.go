package interop_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
)

// The keys every test writes: the old library writes oldKey, kvstore writes newKey.
const (
	oldDir   = "app/config"
	oldKey   = "app/config/db.host"
	oldValue = "db1.example"
	newDir   = "app/other"
	newKey   = "app/other/db.port"
	newValue = "5432"
)

// readOld checks that st, a kvstore Store, reads oldKey as an old library wrote it, with Get and
// with List of its directory.
func readOld(ctx context.Context, t *testing.T, st kvstore.Store) {
	t.Helper()
	pair, err := st.Get(ctx, oldKey, nil)
	if err != nil {
		t.Fatalf("kvstore Get(%q): %v", oldKey, err)
	}
	if pair.Key != oldKey || string(pair.Value) != oldValue {
		t.Errorf("kvstore Get(%q) = %q=%q, want %q=%q", oldKey, pair.Key, pair.Value, oldKey, oldValue)
	}
	pairs, err := st.List(ctx, oldDir, nil)
	if err != nil {
		t.Fatalf("kvstore List(%q): %v", oldDir, err)
	}
	if got := keysValues(pairs, func(p *kvstore.KVPair) (string, []byte) { return p.Key, p.Value }); !slices.Equal(got, []string{oldKey + "=" + oldValue}) {
		t.Errorf("kvstore List(%q) = %q, want [%s=%s]", oldDir, got, oldKey, oldValue)
	}
}

// writeNew writes newKey with st.
func writeNew(ctx context.Context, t *testing.T, st kvstore.Store) {
	t.Helper()
	if err := st.Put(ctx, newKey, []byte(newValue), nil); err != nil {
		t.Fatalf("kvstore Put(%q): %v", newKey, err)
	}
}

// keysValues returns "key=value" for each pair, in order.
func keysValues[P any](pairs []P, kv func(P) (string, []byte)) []string {
	out := make([]string, 0, len(pairs))
	for _, p := range pairs {
		k, v := kv(p)
		out = append(out, k+"="+string(bytes.Clone(v)))
	}
	return out
}

// notFound fails t unless err is kvstore.ErrKeyNotFound.
func notFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("%s: %v, want kvstore.ErrKeyNotFound", what, err)
	}
}

// closeOnCleanup closes c when t ends.
func closeOnCleanup(t *testing.T, c interface{ Close() error }) {
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}
