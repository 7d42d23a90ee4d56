package testserver_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}

func zkConnect(t *testing.T, s *testserver.Server, cfg *tls.Config) *zk.Conn {
	t.Helper()
	dialer := func(network, addr string, timeout time.Duration) (net.Conn, error) {
		if cfg == nil {
			return net.DialTimeout(network, addr, timeout)
		}
		return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, network, addr, cfg)
	}
	c, _, err := zk.Connect(s.Endpoints, 4*time.Second, zk.WithLogger(nopLogger{}), zk.WithDialer(dialer))
	if err != nil {
		t.Fatalf("zk.Connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestZooKeeper(t *testing.T) {
	t.Parallel()
	s := testserver.ZooKeeper(t)
	c := zkConnect(t, s, nil)
	if _, err := c.Create("/smoke", []byte("value"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatal(err)
	}
	data, _, err := c.Get("/smoke")
	if err != nil || string(data) != "value" {
		t.Fatalf("get: %q, %v", data, err)
	}
	// TTL nodes need zookeeper.extendedTypesEnabled.
	if _, err := c.CreateTTL("/ttl", nil, zk.FlagTTL, zk.WorldACL(zk.PermAll), time.Minute); err != nil {
		t.Fatalf("TTL node: %v", err)
	}

	// A paused server answers nothing, not even four-letter words, until resumed.
	s.Pause(t)
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if out, err := testserver.FourLetterWord(ctx, s.Endpoints[0], nil, "ruok"); err == nil && out != "" {
		t.Errorf("paused server answered %q", out)
	}
	s.Resume(t)
	if _, _, err := c.Get("/smoke"); err != nil {
		t.Fatalf("after resume: %v", err)
	}

	s.Kill(t)
	s.Start(t)
	if data, _, err := zkConnect(t, s, nil).Get("/smoke"); err != nil || string(data) != "value" {
		t.Fatalf("after restart: %q, %v", data, err)
	}
}

// TestZooKeeperWithoutTTLNodes: the server refuses TTL nodes, as one left at its defaults does,
// and serves the other kinds.
func TestZooKeeperWithoutTTLNodes(t *testing.T) {
	t.Parallel()
	c := zkConnect(t, testserver.ZooKeeper(t, testserver.WithoutTTLNodes()), nil)
	if _, err := c.CreateTTL("/ttl", nil, zk.FlagTTL, zk.WorldACL(zk.PermAll), time.Minute); err == nil {
		t.Error("a TTL node was created")
	}
	if _, err := c.Create("/plain", []byte("value"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Errorf("plain node: %v", err)
	}
}

func TestZooKeeperTLSAuth(t *testing.T) {
	t.Parallel()
	s := testserver.ZooKeeper(t, testserver.WithTLS(), testserver.WithAuth())
	c := zkConnect(t, s, s.TLS)
	if err := c.AddAuth("digest", []byte(s.Username+":"+s.Password)); err != nil {
		t.Fatalf("AddAuth: %v", err)
	}
	acl := zk.DigestACL(zk.PermAll, s.Username, s.Password)
	if _, err := c.Create("/secret", []byte("value"), 0, acl); err != nil {
		t.Fatal(err)
	}
	if data, _, err := c.Get("/secret"); err != nil || string(data) != "value" {
		t.Fatalf("get: %q, %v", data, err)
	}

	t.Run("wrong password", func(t *testing.T) {
		c := zkConnect(t, s, s.TLS)
		if err := c.AddAuth("digest", []byte(s.Username+":wrong")); err != nil {
			t.Fatalf("AddAuth: %v", err) // digest accepts any pair; the ACL decides
		}
		if _, _, err := c.Get("/secret"); !errors.Is(err, zk.ErrNoAuth) {
			t.Fatalf("got %v, want %v", err, zk.ErrNoAuth)
		}
	})
	t.Run("no credentials", func(t *testing.T) {
		c := zkConnect(t, s, s.TLS)
		if _, _, err := c.Exists("/"); err == nil {
			t.Fatal("an unauthenticated client was served (enforce.auth)")
		} else {
			t.Logf("no credentials: %v", err)
		}
	})
	t.Run("wrong CA", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := testserver.FourLetterWord(ctx, s.Endpoints[0], testserver.NewCA(t).ClientTLS(t), "ruok"); err == nil {
			t.Fatal("a client that trusts another CA got an answer")
		}
		noCert := s.TLS.Clone()
		noCert.Certificates = nil
		if out, err := testserver.FourLetterWord(ctx, s.Endpoints[0], noCert, "ruok"); err == nil && out != "" {
			t.Fatalf("a client without a certificate got %q", out)
		}
	})
}
