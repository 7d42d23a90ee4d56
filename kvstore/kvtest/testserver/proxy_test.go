package testserver_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// echoServer answers every connection with what it receives, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { _ = l.Close(); <-done })
	return l.Addr().String()
}

func roundTrip(c net.Conn, msg string, timeout time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

// dialEcho connects to addr, checks that msg makes the round trip, and returns the connection,
// which the test's end closes.
func dialEcho(t *testing.T, addr, msg string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if got, err := roundTrip(c, msg, 5*time.Second); err != nil || got != msg {
		t.Fatalf("%q through the proxy: %q, %v", msg, got, err)
	}
	return c
}

func TestProxy(t *testing.T) {
	t.Parallel()
	p := testserver.NewProxy(t, echoServer(t))
	c := dialEcho(t, p.Addr(), "hello")

	p.Stall()
	var ne net.Error
	if _, err := roundTrip(c, "stalled", 300*time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("stalled: got %v, want a timeout", err)
	}
	p.Resume()
	// The bytes sent while stalled arrive now, on the same connection.
	buf := make([]byte, len("stalled"))
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "stalled" {
		t.Fatalf("after resume: %q, %v", buf, err)
	}

	p.Cut()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("read on a cut connection succeeded")
	}
	dialEcho(t, p.Addr(), "again") // a new connection after the cut
}

// TestProxyBreak: Break closes the open connections and refuses new ones until Restore, while
// the target keeps serving.
func TestProxyBreak(t *testing.T) {
	t.Parallel()
	p := testserver.NewProxy(t, echoServer(t))
	c := dialEcho(t, p.Addr(), "hello")

	p.Break()
	buf := make([]byte, 1)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("read on a broken connection succeeded")
	}
	// A new connection is accepted, then closed before anything is forwarded.
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c2.Close() }()
	if got, err := roundTrip(c2, "refused", 5*time.Second); err == nil {
		t.Fatalf("new connection while broken answered %q", got)
	}

	p.Restore()
	dialEcho(t, p.Addr(), "again") // a new connection after Restore
}

// TestProxyEtcd runs a real client through the proxy: a stalled network makes calls time out
// rather than fail fast, and the client recovers after Resume and after Cut.
func TestProxyEtcd(t *testing.T) {
	t.Parallel()
	s := testserver.Etcd(t)
	p := testserver.NewProxy(t, s.Endpoints[0])
	proxied := testserver.Server{Endpoints: []string{p.Addr()}}
	c := etcdClient(t, &proxied, nil)
	if err := etcdPutGet(t.Context(), c); err != nil {
		t.Fatal(err)
	}

	p.Stall()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	_, err := c.Get(ctx, "smoke/key")
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stalled get: got %v, want %v", err, context.DeadlineExceeded)
	}
	p.Resume()
	if err := etcdPutGet(t.Context(), c); err != nil {
		t.Fatalf("after resume: %v", err)
	}

	// A call in flight when the connection is cut may fail; the client must then reconnect by
	// itself. 10s is far more than reconnecting to a local server takes, even on a busy machine.
	p.Cut()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := etcdPutGet(t.Context(), c)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after cut: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
