package demo_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestPutAndDeleteCommands runs `go run ./hack/demo put|delete`, which the README gives a person
// to change the demo's store, against a real etcd named in a work folder as a running demo
// names it.
func TestPutAndDeleteCommands(t *testing.T) {
	server := testserver.Etcd(t)
	demo := build(t, t.TempDir(), "demo", "./hack/demo")
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "etcd-endpoint"), []byte(server.Endpoints[0]+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store, err := etcd.New(t.Context(), server.Endpoints, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	command := func(args ...string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), demo, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("demo %v: %v\n%s", args, err, out)
		}
	}

	command("put", "--dir", work, "demo/app/some/key", "value")
	pair, err := store.Get(t.Context(), "demo/app/some/key", nil)
	if err != nil || string(pair.Value) != "value" {
		t.Fatalf("after put: %v, %v", pair, err)
	}
	command("delete", "--dir", work, "demo/app/some/key")
	if _, err := store.Get(t.Context(), "demo/app/some/key", nil); !errors.Is(err, kvstore.ErrKeyNotFound) {
		t.Fatalf("after delete: %v, want ErrKeyNotFound", err)
	}
}
