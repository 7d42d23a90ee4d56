package boltdb_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/boltdb"
)

// holderEnv makes the test binary, re-executed as a child, play another process on a file:
// "file:<path>" keeps the file open; "lock:<path>" takes the lock "lock" (TTL 1s) and
// "put:<path>" writes the key "shared", both with the file opened per call, as processes
// sharing a file do. The child prints "ready" and
// then holds until its stdin closes or it is killed.
const holderEnv = "KVMIRROR_BOLTDB_HOLDER"

const childLockTTL = time.Second

func holdFile() {
	mode, path, _ := strings.Cut(os.Getenv(holderEnv), ":")
	ctx := context.Background()
	cfg := &kvstore.Config{Bucket: "kv", PersistConnection: mode == "file"}
	st, err := boltdb.New(ctx, []string{path}, cfg)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	if mode == "put" {
		err = st.Put(ctx, "shared", []byte("from child"), nil)
	}
	if mode == "lock" {
		lock, err := st.NewLock(ctx, "lock", &kvstore.LockOptions{Value: []byte("child"), TTL: childLockTTL})
		if err == nil {
			_, err = lock.Lock(ctx)
		}
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = st.Close()
}

// startHolder runs the child and returns once it holds what mode asks for; stop ends it
// gracefully (kill: at once, as a crash would).
func startHolder(t *testing.T, mode, path string) (cmd *exec.Cmd, stop func()) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holderEnv+"="+mode+":"+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop = func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); stop() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("holder process: %q, %v", line, err)
	}
	return cmd, stop
}

func TestFileHeldByAnotherProcess(t *testing.T) {
	path := tempFile(t)
	_, stop := startHolder(t, "file", path)

	const timeout = 500 * time.Millisecond
	start := time.Now()
	st, err := boltdb.New(t.Context(), []string{path}, &kvstore.Config{Bucket: "kv", ConnectionTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		_ = st.Close()
		t.Fatal("New succeeded on a file another process holds")
	}
	if !errors.Is(err, kvstore.ErrUnreachable) || !strings.Contains(err.Error(), path) {
		t.Errorf("New: %v; want ErrUnreachable naming %s", err, path)
	}
	// bolt retries its flock every 50ms and gives up one retry before the timeout; 2s above it
	// absorbs a loaded machine and is still far from a hang.
	if elapsed < timeout/2 || elapsed > timeout+2*time.Second {
		t.Errorf("New failed after %s; want about the ConnectionTimeout %s", elapsed, timeout)
	}
	t.Logf("New failed after %s: %v", elapsed, err)

	stop()
	st, err = boltdb.New(t.Context(), []string{path}, &kvstore.Config{Bucket: "kv", ConnectionTimeout: timeout})
	if err != nil {
		t.Fatalf("New after the other process let go: %v", err)
	}
	_ = st.Close()
}

func TestLockOfCrashedProcessIsTakenOver(t *testing.T) {
	path := tempFile(t)
	cmd, _ := startHolder(t, "lock", path)
	st := open(t, path, false)
	if pair, err := st.Get(t.Context(), "lock", nil); err != nil || string(pair.Value) != "child" {
		t.Fatalf("Get(lock) while the child holds it = %v, %v", pair, err)
	}
	lock, err := st.NewLock(t.Context(), "lock", &kvstore.LockOptions{Value: []byte("parent")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), childLockTTL/2)
	defer cancel()
	if lost, err := lock.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) || lost != nil {
		t.Fatalf("Lock while another process holds it = %v, %v; want DeadlineExceeded", lost, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	// The contract allows TTL + 2s after the holder died.
	ctx, cancel = context.WithTimeout(t.Context(), childLockTTL+2*time.Second)
	defer cancel()
	if _, err := lock.Lock(ctx); err != nil {
		t.Fatalf("Lock after the holder crashed: %v", err)
	}
	t.Logf("lock taken over %s after the holder was killed", time.Since(killed))
	if pair, err := st.Get(t.Context(), "lock", nil); err != nil || string(pair.Value) != "parent" {
		t.Errorf("Get(lock) after takeover = %v, %v", pair, err)
	}
	if err := lock.Unlock(t.Context()); err != nil {
		t.Error(err)
	}
}

// TestWatchSeesOtherProcess: writes by another process reach a watch here through the
// sweeper's look at the file's counter, about once a second.
func TestWatchSeesOtherProcess(t *testing.T) {
	path := tempFile(t)
	st := open(t, path, false)
	events, err := st.Watch(t.Context(), "shared", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	startHolder(t, "put", path)
	// One poll interval (1s) plus 3s for a loaded machine.
	select {
	case pair := <-events:
		if pair == nil || string(pair.Value) != "from child" {
			t.Errorf("Watch event %v, want the child's value", pair)
		}
		t.Logf("seen %s after the child started", time.Since(start))
	case <-time.After(4 * time.Second):
		t.Fatal("a write by another process never reached the watch")
	}
}
