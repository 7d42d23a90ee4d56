package etcdv2_test

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

func curlSet(t *testing.T, eps []string, key, value string) *testserver.V2Node {
	t.Helper()
	return testserver.EtcdV2Keys(t, eps, http.MethodPut, "/"+key, url.Values{"value": {value}})
}

// TestCurlTree: files and directories written as curl writes them to the v2 API (a form body
// with value=..., dir=true for an empty directory) read as keys through Get, List and
// WatchTree, at their own paths with their values intact; an empty directory is no key.
// Follow-up writes and deletes by curl reach the watch. plain_test.go covers the rest of plain
// v2 data through etcd's Go client.
func TestCurlTree(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	st, eps := open(t, server, nil), server.Endpoints
	want := map[string]string{
		"app/db/host": "db.local", "app/db/url": "postgres://u:p@h/db?sslmode=require&x=a b",
		"app/name": "a+b=c", "app/empty": "", "app/x/y/z": "deep",
	}
	for k, v := range want {
		curlSet(t, eps, k, v)
	}
	testserver.EtcdV2Keys(t, eps, http.MethodPut, "/app/dir", url.Values{"dir": {"true"}})
	if got := kvtest.Values(kvtest.MustList(t, st, "app")); !maps.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	for k, v := range want {
		if p := kvtest.MustGet(t, st, k); p.Key != k || string(p.Value) != v {
			t.Errorf("Get(%q) = %+v, want %q", k, p, v)
		}
	}
	if _, err := st.List(t.Context(), "app/dir", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Errorf("List of an empty v2 directory: %v, want ErrKeyNotFound", err)
	}

	ch, err := st.WatchTree(t.Context(), "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	kvtest.AwaitListing(t, ch, want, eventBound, "first listing")
	want["app/db/host"] = "db2.local"
	curlSet(t, eps, "app/db/host", "db2.local")
	kvtest.AwaitListing(t, ch, want, eventBound, "curl update")
	want["app/dir/new"] = "n"
	curlSet(t, eps, "app/dir/new", "n")
	kvtest.AwaitListing(t, ch, want, eventBound, "curl create in the empty directory")
	delete(want, "app/name")
	testserver.EtcdV2Keys(t, eps, http.MethodDelete, "/app/name", nil)
	kvtest.AwaitListing(t, ch, want, eventBound, "curl delete")
	delete(want, "app/x/y/z")
	testserver.EtcdV2Keys(t, eps, http.MethodDelete, "/app/x", url.Values{"recursive": {"true"}})
	kvtest.AwaitListing(t, ch, want, eventBound, "curl delete -recursive")
}

// TestCurlReads: what a Store writes, curl reads: a new key at its value file "=" in the key's
// directory, a key curl wrote as a plain file in place, so curl's readers keep reading it there.
func TestCurlReads(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	st, eps := open(t, server, nil), server.Endpoints
	curlSet(t, eps, "app/db/host", "theirs")
	kvtest.MustPut(t, st, "app/db/host", "mine", nil)
	kvtest.MustPut(t, st, "app/db/port", "5432", nil)
	kvtest.MustPut(t, st, "app/_tmp", "escaped", nil)
	for path, want := range map[string]string{
		"/app/db/host": "mine", "/app/db/port/=": "5432", "/app/=_tmp/=": "escaped",
	} {
		if n := testserver.EtcdV2Keys(t, eps, http.MethodGet, path, nil); n.Dir || n.Value != want {
			t.Errorf("GET %s = %+v, want a file holding %q", path, n, want)
		}
	}
}
