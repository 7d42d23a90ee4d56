package zookeeper_test

import (
	"crypto/rand"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// toolBound bounds the wait for a watch to report what zkCli wrote.
const toolBound = 10 * time.Second

// TestZkCliTree: znodes written by zkCli, with data on parents (/app and /app/config hold data
// and have children) and null-data directories between them, read as keys with their values
// through Get, List and WatchTree; zkCli's later set, create and delete reach the watch.
func TestZkCliTree(t *testing.T) {
	t.Parallel()
	top := "zkcli-" + rand.Text()[:8]
	testserver.ZkCli(t, endpoints,
		"create /"+top,
		"create /"+top+`/app "x"`,
		"create /"+top+`/app/config "host=db port=5432"`,
		"create /"+top+`/app/config/db "y"`,
		"create /"+top+"/app/dir",
		"create /"+top+`/app/dir/a "deep"`,
		"create /"+top+`/app/empty ""`,
	)
	want := map[string]string{
		top + "/app": "x", top + "/app/config": "host=db port=5432", top + "/app/config/db": "y",
		top + "/app/dir/a": "deep", top + "/app/empty": "",
	}
	st := openStore(t, endpoints, nil)
	if got := kvtest.Values(kvtest.MustList(t, st, top)); !maps.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	for k, v := range want {
		if p := kvtest.MustGet(t, st, k); p.Key != k || string(p.Value) != v {
			t.Errorf("Get(%q) = %+v, want %q", k, p, v)
		}
	}
	for _, dir := range []string{top, top + "/app/dir"} {
		if _, err := st.Get(t.Context(), dir, nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
			t.Errorf("Get(%q), a znode with null data: %v, want ErrKeyNotFound", dir, err)
		}
	}

	ch, err := st.WatchTree(t.Context(), top+"/app", nil)
	if err != nil {
		t.Fatal(err)
	}
	below := maps.Clone(want)
	delete(below, top+"/app")
	kvtest.AwaitListing(t, ch, below, toolBound, "first listing")
	testserver.ZkCli(t, endpoints,
		"set /"+top+`/app/config "changed"`,
		"create /"+top+`/app/dir/b "new"`,
		"delete /"+top+"/app/empty",
	)
	below[top+"/app/config"] = "changed"
	below[top+"/app/dir/b"] = "new"
	delete(below, top+"/app/empty")
	kvtest.AwaitListing(t, ch, below, toolBound, "zkCli set, create, delete")
	testserver.ZkCli(t, endpoints, "deleteall /"+top+"/app/config")
	delete(below, top+"/app/config")
	delete(below, top+"/app/config/db")
	kvtest.AwaitListing(t, ch, below, toolBound, "zkCli deleteall")
}

// TestZkCliReads: what a Store writes, zkCli reads at the znode of the same path, with the
// parents it created as null-data znodes, and a Delete of a key with keys below it leaves null
// data, as zkCli's own `create` of a parent does.
func TestZkCliReads(t *testing.T) {
	t.Parallel()
	top := "zkcli-" + rand.Text()[:8]
	st := openStore(t, endpoints, nil)
	kvtest.MustPut(t, st, top+"/app", "x", nil)
	kvtest.MustPut(t, st, top+"/app/config/db", "y", nil)
	kvtest.MustPut(t, st, top+"/app/empty", "", nil)
	got := testserver.ZkCli(t, endpoints,
		"get /"+top+"/app", "get /"+top+"/app/config", "get /"+top+"/app/config/db", "get /"+top+"/app/empty")
	if want := "x\nnull\ny\n\n"; got != want {
		t.Errorf("zkCli get = %q, want %q", got, want)
	}
	if err := st.Delete(t.Context(), top+"/app"); err != nil {
		t.Fatal(err)
	}
	if got := testserver.ZkCli(t, endpoints, "get /"+top+"/app", "ls /"+top+"/app"); got != "null\n[config, empty]\n" {
		t.Errorf("zkCli after Delete of a parent key = %q, want its data null and its children kept", got)
	}
}
