package testserver_test

import (
	"net/url"
	"runtime"
	"testing"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestConsulKV: a key put with flags is read back with its value and flags by the same CLI.
func TestConsulKV(t *testing.T) {
	t.Parallel()
	eps := testserver.Consul(t).Endpoints
	testserver.ConsulKV(t, eps, "put", "-flags=42", "app/db/host", "x y")
	if got := testserver.ConsulKV(t, eps, "get", "app/db/host"); got != "x y\n" {
		t.Errorf("consul kv get = %q, want %q", got, "x y\n")
	}
	if got := testserver.ConsulKV(t, eps, "get", "-recurse", "app"); got != "app/db/host:x y\n" {
		t.Errorf("consul kv get -recurse = %q", got)
	}
}

// TestZkCli: commands run in order in one session, only their answers are returned, and a
// failed command fails the test.
func TestZkCli(t *testing.T) {
	t.Parallel()
	eps := testserver.ZooKeeper(t).Endpoints
	got := testserver.ZkCli(t, eps, `create /app "x"`, `create /app/config "a b"`, "create /app/dir",
		"set /app y", "get /app", "get /app/config", "get /app/dir")
	if want := "y\na b\nnull\n"; got != want {
		t.Errorf("zkCli printed %q, want %q", got, want)
	}
	failed := runFailing(t, func(tb testing.TB) { testserver.ZkCli(tb, eps, "create /app", "get /app") })
	if !failed {
		t.Error("zkCli create of an existing node did not fail the test")
	}
}

// TestEtcdV2Keys: files and directories written as curl writes them are read back recursively.
func TestEtcdV2Keys(t *testing.T) {
	t.Parallel()
	eps := testserver.EtcdV2(t).Endpoints
	put := testserver.EtcdV2Keys(t, eps, "PUT", "/app/db/host", url.Values{"value": {"x&y=z"}})
	testserver.EtcdV2Keys(t, eps, "PUT", "/app/empty", url.Values{"dir": {"true"}})
	root := testserver.EtcdV2Keys(t, eps, "GET", "/app", url.Values{"recursive": {"true"}, "sorted": {"true"}})
	if !root.Dir || len(root.Nodes) != 2 || root.Nodes[1].Key != "/app/empty" || !root.Nodes[1].Dir {
		t.Fatalf("GET /app = %+v", root)
	}
	host := root.Nodes[0].Nodes[0]
	if host.Key != "/app/db/host" || host.Value != "x&y=z" || host.ModifiedIndex != put.ModifiedIndex {
		t.Errorf("GET /app holds %+v, want the file put at index %d", host, put.ModifiedIndex)
	}
}

// failRecorder is a testing.TB whose Fatal and Fatalf record the failure, log it and end the
// goroutine, as the real ones do, without failing the test that runs it.
type failRecorder struct {
	testing.TB
	failed bool
}

func (r *failRecorder) Fatal(args ...any) {
	r.failed = true
	r.Log(append([]any{"expected failure:"}, args...)...)
	runtime.Goexit()
}

func (r *failRecorder) Fatalf(format string, args ...any) {
	r.failed = true
	r.Logf("expected failure: "+format, args...)
	runtime.Goexit()
}

// runFailing runs fn in a goroutine of its own, so that a Fatal can end it, and reports whether
// fn failed.
func runFailing(t *testing.T, fn func(testing.TB)) bool {
	r := &failRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r.failed
}
