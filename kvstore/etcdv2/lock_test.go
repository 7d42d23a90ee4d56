package etcdv2_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

const lockTTL = 2 * time.Second

func mustLock(t *testing.T, st kvstore.Store, key, value string) (kvstore.Locker, <-chan struct{}) {
	t.Helper()
	lock, err := st.NewLock(t.Context(), key, &kvstore.LockOptions{Value: []byte(value), TTL: lockTTL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), eventBound)
	defer cancel()
	lost, err := lock.Lock(ctx)
	if err != nil {
		t.Fatalf("Lock(%q): %v", key, err)
	}
	return lock, lost
}

func queueLen(t *testing.T, rk client.KeysAPI, key string) int {
	t.Helper()
	resp, err := rk.Get(t.Context(), etcdv2.QueuePath(key), nil)
	if client.IsKeyNotFound(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(resp.Node.Nodes)
}

// TestLockOnServer runs the lock tests that need a server of their own no more than the
// conformance suite does; each uses its own key.
func TestLockOnServer(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	for name, test := range map[string]func(*testing.T, *testserver.Server){
		"QueueNodeDeleted":    testLockQueueNodeDeleted,
		"CancelLeavesNothing": testLockCancelLeavesNothing,
		"RefreshKeepsValue":   testLockRefreshKeepsValue,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, server)
		})
	}
}

// testLockQueueNodeDeleted: deleting the holder's queue node, its "session", loses the lock.
func testLockQueueNodeDeleted(t *testing.T, server *testserver.Server) {
	st, rk := open(t, server, nil), raw(t, server)
	key := prefix(t) + "/lock"
	_, lost := mustLock(t, st, key, "held")
	resp, err := rk.Get(t.Context(), etcdv2.QueuePath(key), nil)
	if err != nil || len(resp.Node.Nodes) != 1 {
		t.Fatalf("queue = %v, %v", resp, err)
	}
	if _, err := rk.Delete(t.Context(), resp.Node.Nodes[0].Key, nil); err != nil {
		t.Fatal(err)
	}
	kvtest.ExpectClosed(t, lost, 3*time.Second, "lost channel after the queue node was deleted")
	waitGone(t, st, key)
}

// waitGone waits for a lost lock's key to be cleaned up.
func waitGone(t *testing.T, st kvstore.Store, key string) {
	t.Helper()
	for deadline := time.Now().Add(eventBound); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ok, err := st.Exists(t.Context(), key, nil); err == nil && !ok {
			return
		}
	}
	t.Errorf("the key of a lost lock is still there")
}

// testLockCancelLeavesNothing: a waiter whose ctx ends returns an error wrapping ctx.Err() and
// removes its queue node.
func testLockCancelLeavesNothing(t *testing.T, server *testserver.Server) {
	holder, waiter, rk := open(t, server, nil), open(t, server, nil), raw(t, server)
	key := prefix(t) + "/lock"
	mustLock(t, holder, key, "holder")
	lock, err := waiter.NewLock(t.Context(), key, &kvstore.LockOptions{TTL: lockTTL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	lost, err := lock.Lock(ctx)
	if lost != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock with an ending ctx = %v, %v; want nil, DeadlineExceeded", lost, err)
	}
	if n := queueLen(t, rk, key); n != 1 {
		t.Errorf("queue holds %d nodes after the waiter gave up, want the holder's only", n)
	}
}

// testLockRefreshKeepsValue: refreshes keep the lock key's value and TTL alive without watch
// events; only the index moves (etcd gives a refresh an index of its own).
func testLockRefreshKeepsValue(t *testing.T, server *testserver.Server) {
	st, watcher := open(t, server, nil), open(t, server, nil)
	key := prefix(t) + "/lock"
	lock, lost := mustLock(t, st, key, "v")
	ch, err := watcher.Watch(t.Context(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := kvtest.MustReceive(t, ch, eventBound, "first event")
	select {
	case p := <-ch:
		t.Fatalf("event %v while the lock was only refreshed", p)
	case <-lost:
		t.Fatal("lock lost")
	case <-time.After(2 * lockTTL):
	}
	now := kvtest.MustGet(t, watcher, key)
	if string(now.Value) != "v" || now.LastIndex <= first.LastIndex {
		t.Errorf("lock key after refreshes = %v; want value v and an index above %d", now, first.LastIndex)
	}
	if err := lock.Unlock(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := kvtest.MustReceive(t, ch, eventBound, "event for Unlock"); p != nil {
		t.Errorf("event for Unlock = %v, want nil", p)
	}
}

// TestLockHolderStalled: a holder cut off from the server loses the lock (its lost channel
// closes) within the TTL after its last refresh, before etcd can expire its nodes and let a
// waiter in; after that, another Store gets the lock.
func TestLockHolderStalled(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	st := open(t, server, &kvstore.Config{ConnectionTimeout: time.Second})
	key := prefix(t) + "/lock"
	_, lost := mustLock(t, st, key, "stalled")
	server.Pause(t)
	start := time.Now()
	kvtest.ExpectClosed(t, lost, lockTTL+failBound, "lost channel of a holder cut off from the server")
	t.Logf("lost %s after the server stalled (TTL %s)", time.Since(start).Round(time.Millisecond), lockTTL)
	server.Resume(t)
	mustLock(t, open(t, server, nil), key, "next")
}

// lockHolderEnv makes the test binary, re-executed as a child, take a lock and hold it until
// it is killed: "<endpoint> <key>". It prints "locked" once it holds the lock.
const lockHolderEnv = "KVMIRROR_ETCDV2_LOCK_HOLDER"

func holdLock() {
	endpoint, key, _ := strings.Cut(os.Getenv(lockHolderEnv), " ")
	ctx := context.Background()
	st, err := etcdv2.New(ctx, []string{endpoint}, &kvstore.Config{ConnectionTimeout: testTimeout})
	if err == nil {
		var lock kvstore.Locker
		lock, err = st.NewLock(ctx, key, &kvstore.LockOptions{Value: []byte("child"), TTL: lockTTL})
		if err == nil {
			_, err = lock.Lock(ctx)
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	select {}
}

// TestLockHolderKilled: when the holding process dies, etcd expires its nodes and a waiter
// acquires within TTL + 2 s, woken by the expiry event rather than by polling.
func TestLockHolderKilled(t *testing.T) {
	t.Parallel()
	server := testserver.EtcdV2(t)
	key := prefix(t) + "/lock"
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHolderEnv+"="+server.Endpoints[0]+" "+key)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q, %v", line, err)
	}
	st := open(t, server, nil)
	if p := kvtest.MustGet(t, st, key); string(p.Value) != "child" {
		t.Fatalf("lock key = %q, want the child's value", p.Value)
	}
	lock, err := st.NewLock(t.Context(), key, &kvstore.LockOptions{Value: []byte("parent"), TTL: lockTTL})
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), eventBound+lockTTL)
		defer cancel()
		_, err := lock.Lock(ctx)
		held <- err
	}()
	time.Sleep(300 * time.Millisecond) // the waiter is queued behind the child
	start := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// TTL + 2 s by the contract; etcd expires nodes on a 500 ms tick, and the last refresh may
	// be up to TTL/3 before the kill, so this is met with room. 1 s more for a loaded machine.
	select {
	case err := <-held:
		if err != nil {
			t.Fatalf("waiter: %v", err)
		}
	case <-time.After(lockTTL + 3*time.Second):
		t.Fatal("the waiter did not acquire the lock of a killed holder")
	}
	t.Logf("waiter acquired %s after the holder was killed (TTL %s)", time.Since(start).Round(time.Millisecond), lockTTL)
	if p := kvtest.MustGet(t, st, key); string(p.Value) != "parent" {
		t.Errorf("lock key = %q, want the new holder's value", p.Value)
	}
	if err := lock.Unlock(t.Context()); err != nil {
		t.Error(err)
	}
}
