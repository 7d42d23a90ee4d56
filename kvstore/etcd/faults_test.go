package etcd_test

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestNewDeadEndpoint: the etcd client connects lazily, so New must make a request of its own to
// fail, within the connection timeout, on an endpoint that refuses or never answers.
func TestNewDeadEndpoint(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	for name, endpoint := range map[string]string{
		"refused": net.JoinHostPort("127.0.0.1", strconv.Itoa(testserver.FreePort(t))),
		"silent":  silentEndpoint(t),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var err error
			elapsed := within(t, timeout+slack, "New", func() {
				var st kvstore.Store
				st, err = etcd.New(t.Context(), []string{endpoint}, &kvstore.Config{ConnectionTimeout: timeout})
				if err == nil {
					_ = st.Close()
				}
			})
			if !errors.Is(err, kvstore.ErrUnreachable) {
				t.Fatalf("New(%s) = %v, want ErrUnreachable", endpoint, err)
			}
			t.Logf("New failed after %v: %v", elapsed.Round(time.Millisecond), err)
		})
	}
}

// TestServerDownUnderCall: a call to a server that stopped answering, or died, fails with
// ErrUnreachable within the connection timeout, and the Store works again once the server is back.
func TestServerDownUnderCall(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	server := testserver.Etcd(t)
	st := open(t, server.Endpoints, &kvstore.Config{ConnectionTimeout: timeout})
	key := prefix(t) + "/k"
	if err := st.Put(t.Context(), key, []byte("v1"), nil); err != nil {
		t.Fatal(err)
	}

	server.Pause(t)
	expectUnreachable(t, timeout, "Get on a paused server", func() error {
		_, err := st.Get(t.Context(), key, nil)
		return err
	})
	server.Kill(t)
	expectUnreachable(t, timeout, "Put on a killed server", func() error {
		return st.Put(t.Context(), key, []byte("v2"), nil)
	})

	server.Start(t)
	// The Store reconnects by itself; reconnection attempts are at most 2 s apart.
	if err := st.Put(t.Context(), key, []byte("v3"), nil); err != nil {
		t.Fatalf("Put after restart: %v", err)
	}
	if pair, err := st.Get(t.Context(), key, nil); err != nil || string(pair.Value) != "v3" {
		t.Fatalf("Get after restart = %v, %v; want v3", pair, err)
	}
}

func expectUnreachable(t *testing.T, timeout time.Duration, what string, call func() error) {
	t.Helper()
	var err error
	elapsed := within(t, timeout+slack, what, func() { err = call() })
	if !errors.Is(err, kvstore.ErrUnreachable) {
		t.Fatalf("%s = %v, want ErrUnreachable", what, err)
	}
	t.Logf("%s failed after %v: %v", what, elapsed.Round(time.Millisecond), err)
}

// TestWatchResumesAfterRestart: a server stopped (cleanly or by a crash) and started again
// within the connection timeout is a transient outage: Watch and WatchTree resume and deliver the
// writes made after the restart, without repeating or going back.
func TestWatchResumesAfterRestart(t *testing.T) {
	t.Parallel()
	for name, stop := range map[string]func(*testserver.Server, testing.TB){
		"stop": (*testserver.Server).Stop,
		"kill": (*testserver.Server).Kill,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			server := testserver.Etcd(t)
			// Far above a restart's few seconds: the outage must count as transient.
			st := open(t, server.Endpoints, &kvstore.Config{ConnectionTimeout: 30 * time.Second})
			dir := prefix(t)
			key := dir + "/k"
			kvtest.MustPut(t, st, key, "before", nil)
			events, err := st.Watch(t.Context(), key, nil)
			if err != nil {
				t.Fatal(err)
			}
			trees, err := st.WatchTree(t.Context(), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			first := expectValue(t, events, 0, "before")
			expectListing(t, trees, key+"=before")

			stop(server, t)
			server.Start(t)
			kvtest.MustPut(t, st, key, "after", nil)
			kvtest.MustPut(t, st, dir+"/new", "x", nil)
			expectValue(t, events, first.LastIndex, "after")
			expectListing(t, trees, key+"=after", dir+"/new=x")
		})
	}
}

// TestWatchClosesWhenServerGone: when the backend stays unreachable for the connection timeout,
// Watch and WatchTree close their channels rather than wait in silence, and a held lock is lost
// within its TTL. "paused" is a server that keeps its connections open and answers nothing; the
// client notices through gRPC keepalive pings, sent after 10 s of silence.
func TestWatchClosesWhenServerGone(t *testing.T) {
	t.Parallel()
	const timeout = time.Second
	for name, c := range map[string]struct {
		fault func(*testserver.Server, testing.TB)
		bound time.Duration
	}{
		"stop":   {(*testserver.Server).Stop, timeout + slack},
		"paused": {(*testserver.Server).Pause, 10*time.Second + 2*timeout + 2*slack},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			server := testserver.Etcd(t)
			st := open(t, server.Endpoints, &kvstore.Config{ConnectionTimeout: timeout})
			dir := prefix(t)
			events, err := st.Watch(t.Context(), dir+"/k", nil)
			if err != nil {
				t.Fatal(err)
			}
			trees, err := st.WatchTree(t.Context(), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			expectListing(t, trees)
			const lockTTL = 2 * time.Second
			lock, err := st.NewLock(t.Context(), dir+"/lock", &kvstore.LockOptions{TTL: lockTTL})
			if err != nil {
				t.Fatal(err)
			}
			lost, err := lock.Lock(t.Context())
			if err != nil {
				t.Fatal(err)
			}

			c.fault(server, t)
			start := time.Now()
			kvtest.ExpectClosed(t, lost, lockTTL+slack, "lost")
			t.Logf("lock lost after %v", time.Since(start).Round(time.Millisecond))
			kvtest.ExpectClosed(t, events, c.bound, "Watch")
			kvtest.ExpectClosed(t, trees, c.bound, "WatchTree")
			t.Logf("watches closed after %v", time.Since(start).Round(time.Millisecond))
			if name == "paused" {
				server.Resume(t)
			}
		})
	}
}

// expectValue receives pairs until one holds want; every pair must have a LastIndex above the
// one before (after is the last seen) and the channel must stay open.
func expectValue(t *testing.T, events <-chan *kvstore.KVPair, after uint64, want string) *kvstore.KVPair {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pair, ok := kvtest.Receive(t, events, time.Until(deadline), "Watch value "+want)
		switch {
		case !ok:
			t.Fatalf("Watch closed while waiting for %q", want)
		case pair == nil:
			t.Fatalf("Watch reported a deletion while waiting for %q", want)
		case pair.LastIndex <= after:
			t.Fatalf("Watch went back: LastIndex %d after %d", pair.LastIndex, after)
		case string(pair.Value) == want:
			return pair
		}
		after = pair.LastIndex
	}
}

// expectListing receives listings until one equals want ("key=value" each, sorted).
func expectListing(t *testing.T, trees <-chan []*kvstore.KVPair, want ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got []string
	for {
		listing, ok := kvtest.Receive(t, trees, time.Until(deadline), "WatchTree listing")
		if !ok {
			t.Fatalf("WatchTree closed while waiting for %q (last %q)", want, got)
		}
		got = got[:0]
		for _, p := range listing {
			got = append(got, p.Key+"="+string(p.Value))
		}
		if slicesEqual(got, want) {
			return
		}
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
