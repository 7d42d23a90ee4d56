package consul_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// toolBound bounds the wait for a watch to report what the consul CLI wrote.
const toolBound = 10 * time.Second

// TestConsulCLIKeys: keys written by `consul kv put`, nested, with flags, with a value on a
// parent key and beside a folder, are read by Get, List and WatchTree under their own names
// with their values intact; later puts and deletes by the CLI reach the watch.
func TestConsulCLIKeys(t *testing.T) {
	t.Parallel()
	st, dir := open(t, endpoints, nil), dirFor(t)
	want := map[string]string{
		dir + "/app":            "parent value",
		dir + "/app/db/host":    "db.local",
		dir + "/app/db/port":    "5432",
		dir + "/app/db/url":     "postgres://u:p@h/db?sslmode=require&x=a b",
		dir + "/app/db/empty":   "",
		dir + "/app/deep/a/b/c": "deep",
	}
	flags := map[string]string{dir + "/app/db/port": "42", dir + "/app/db/url": "18446744073709551615", dir + "/app": "1"}
	for k, v := range want {
		args := []string{k, v}
		if f, ok := flags[k]; ok {
			args = append([]string{"-flags=" + f}, args...)
		}
		testserver.ConsulKV(t, endpoints, "put", args...)
	}
	testserver.ConsulKV(t, endpoints, "put", dir+"/app/folder/") // what Consul's UI makes of a folder

	pairs := kvtest.MustList(t, st, dir)
	if got := kvtest.Values(pairs); !maps.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if !slices.IsSortedFunc(pairs, func(a, b *kvstore.KVPair) int { return strings.Compare(a.Key, b.Key) }) {
		t.Errorf("List is not sorted: %v", pairs)
	}
	for k, v := range want {
		if p := kvtest.MustGet(t, st, k); string(p.Value) != v || p.Key != k {
			t.Errorf("Get(%q) = %+v, want %q", k, p, v)
		}
	}
	if _, err := st.Get(t.Context(), dir+"/app/folder", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("Get of a folder: %v, want ErrKeyNotFound", err)
	}

	ch, err := st.WatchTree(t.Context(), dir+"/app", nil)
	if err != nil {
		t.Fatal(err)
	}
	below := maps.Clone(want)
	delete(below, dir+"/app")
	kvtest.AwaitListing(t, ch, below, toolBound, "first listing")
	testserver.ConsulKV(t, endpoints, "put", "-flags=7", dir+"/app/db/host", "db2.local")
	below[dir+"/app/db/host"] = "db2.local"
	kvtest.AwaitListing(t, ch, below, toolBound, "consul kv put -flags")
	testserver.ConsulKV(t, endpoints, "delete", dir+"/app/db/port")
	delete(below, dir+"/app/db/port")
	kvtest.AwaitListing(t, ch, below, toolBound, "consul kv delete")
	testserver.ConsulKV(t, endpoints, "delete", "-recurse", dir+"/app/deep")
	delete(below, dir+"/app/deep/a/b/c")
	kvtest.AwaitListing(t, ch, below, toolBound, "consul kv delete -recurse")
}

// TestConsulCLIReads: what a Store writes, `consul kv get` reads at the same key with the same
// value, also over a key the CLI wrote with flags.
func TestConsulCLIReads(t *testing.T) {
	t.Parallel()
	st, dir := open(t, endpoints, nil), dirFor(t)
	testserver.ConsulKV(t, endpoints, "put", "-flags=42", dir+"/flagged", "theirs")
	kvtest.MustPut(t, st, dir+"/flagged", "mine", nil)
	kvtest.MustPut(t, st, "/"+dir+"/app/db/host/", "db.local", nil)
	kvtest.MustPut(t, st, dir+"/app/db/empty", "", nil)
	for key, want := range map[string]string{
		dir + "/flagged": "mine\n", dir + "/app/db/host": "db.local\n", dir + "/app/db/empty": "\n",
	} {
		if got := testserver.ConsulKV(t, endpoints, "get", key); got != want {
			t.Errorf("consul kv get %s = %q, want %q", key, got, want)
		}
	}
	got := testserver.ConsulKV(t, endpoints, "get", "-recurse", dir+"/app/")
	if want := dir + "/app/db/empty:\n" + dir + "/app/db/host:db.local\n"; got != want {
		t.Errorf("consul kv get -recurse = %q, want %q", got, want)
	}
}
