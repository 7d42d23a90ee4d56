package etcd_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// openLayout opens a Store on the shared server in the given key layout.
func openLayout(t *testing.T, layout string) kvstore.Store {
	t.Helper()
	return open(t, endpoints, &kvstore.Config{KeyLayout: layout})
}

func keysOf(pairs []*kvstore.KVPair) []string {
	keys := make([]string, 0, len(pairs))
	for _, p := range pairs {
		keys = append(keys, p.Key)
	}
	return keys
}

// TestLayoutReadsEtcdctlKeys: a key etcdctl wrote without a leading slash is a key of the plain
// layout only, one written with it a key of the slash layout only; neither layout lists the
// other's keys, even from the root, nor a sibling that shares the directory's name as a prefix.
func TestLayoutReadsEtcdctlKeys(t *testing.T) {
	t.Parallel()
	dir := prefix(t)
	testserver.Etcdctl(t, endpoints, "put", dir+"/app/config/db.host", "x")
	testserver.Etcdctl(t, endpoints, "put", "/"+dir+"/app/config/db.port", "1")
	testserver.Etcdctl(t, endpoints, "put", dir+"/apple/x", "sibling")
	testserver.Etcdctl(t, endpoints, "put", "/"+dir+"/apple/y", "sibling")
	for _, tc := range []struct {
		layout      string
		key, value  string
		otherLayout string
	}{
		{kvstore.KeyLayoutPlain, dir + "/app/config/db.host", "x", dir + "/app/config/db.port"},
		{kvstore.KeyLayoutSlash, dir + "/app/config/db.port", "1", dir + "/app/config/db.host"},
	} {
		t.Run(tc.layout, func(t *testing.T) {
			st := openLayout(t, tc.layout)
			if got := keysOf(kvtest.MustList(t, st, dir+"/app")); !slices.Equal(got, []string{tc.key}) {
				t.Errorf("List(%s/app) = %q, want only %q", dir, got, tc.key)
			}
			if pair := kvtest.MustGet(t, st, tc.key); string(pair.Value) != tc.value {
				t.Errorf("Get(%s) = %q, want %q", tc.key, pair.Value, tc.value)
			}
			if _, err := st.Get(t.Context(), tc.otherLayout, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
				t.Errorf("Get(%s), a key of the other layout: %v, want ErrKeyNotFound", tc.otherLayout, err)
			}
			root := keysOf(kvtest.MustList(t, st, ""))
			if !slices.Contains(root, tc.key) || slices.Contains(root, tc.otherLayout) {
				t.Errorf("List(root) holds %s: %v, and %s: %v; want true, false", tc.key,
					slices.Contains(root, tc.key), tc.otherLayout, slices.Contains(root, tc.otherLayout))
			}
		})
	}
}

// TestLayoutWritesEtcdctlKeys: what a Store writes, etcdctl reads at the etcd key the layout
// names, and not at the other layout's.
func TestLayoutWritesEtcdctlKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		layout        string
		root, another string
	}{
		{kvstore.KeyLayoutPlain, "", "/"},
		{kvstore.KeyLayoutSlash, "/", ""},
	} {
		t.Run(tc.layout, func(t *testing.T) {
			key := prefix(t) + "/app/config/db.host"
			kvtest.MustPut(t, openLayout(t, tc.layout), "/"+key+"/", "x", nil)
			if got := testserver.Etcdctl(t, endpoints, "get", "--print-value-only", tc.root+key); got != "x\n" {
				t.Errorf("etcdctl get %s = %q, want %q", tc.root+key, got, "x\n")
			}
			if got := testserver.Etcdctl(t, endpoints, "get", tc.another+key); got != "" {
				t.Errorf("etcdctl get %s = %q, want nothing", tc.another+key, got)
			}
		})
	}
}

// TestPlainDeleteTreeRoot: DeleteTree of the plain layout's root removes the keys of that layout
// only, not those of the slash layout nor lock bookkeeping. It empties its own server.
func TestPlainDeleteTreeRoot(t *testing.T) {
	t.Parallel()
	eps := testserver.Etcd(t).Endpoints
	testserver.Etcdctl(t, eps, "put", "a/b", "plain")
	testserver.Etcdctl(t, eps, "put", " x", "plain")
	testserver.Etcdctl(t, eps, "put", "~", "plain")
	testserver.Etcdctl(t, eps, "put", "/a/b", "slash")
	lock, err := open(t, eps, nil).NewLock(t.Context(), "held", nil)
	if err != nil {
		t.Fatal(err)
	}
	lost, err := lock.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	plain := open(t, eps, &kvstore.Config{KeyLayout: kvstore.KeyLayoutPlain})
	if err := plain.DeleteTree(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.List(t.Context(), "", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List(root) after DeleteTree(root) = %v, want ErrKeyNotFound", err)
	}
	left := strings.Fields(testserver.Etcdctl(t, eps, "get", "", "--from-key", "--keys-only"))
	if len(left) != 3 || left[1] != "/a/b" || left[2] != "/held" {
		t.Errorf("etcd keys left = %q; want a waiter key, /a/b and /held", left)
	}
	if kvtest.IsClosed(lost) {
		t.Error("DeleteTree of the plain root took the slash layout's lock")
	}
}

// TestLayoutLocksApart: the lock "l" of one layout guards another etcd key than that of the
// other layout, so the two are held at once.
func TestLayoutLocksApart(t *testing.T) {
	t.Parallel()
	key := prefix(t) + "/l"
	for _, layout := range []string{kvstore.KeyLayoutSlash, kvstore.KeyLayoutPlain} {
		lock, err := openLayout(t, layout).NewLock(t.Context(), key, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), slack)
		_, err = lock.Lock(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Lock(%s) in the %s layout, with the other layout's held: %v", key, layout, err)
		}
		t.Cleanup(func() { _ = lock.Unlock(context.Background()) })
	}
}
