package testserver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// etcdClient opens a v3 client; every call it makes is bounded by the test's context.
func etcdClient(t *testing.T, s *testserver.Server, mod func(*clientv3.Config)) *clientv3.Client {
	t.Helper()
	cfg := clientv3.Config{
		Endpoints:   s.Endpoints,
		DialTimeout: 10 * time.Second,
		TLS:         s.TLS,
		Username:    s.Username,
		Password:    s.Password,
		Context:     t.Context(),
		Logger:      zap.NewNop(),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func etcdPutGet(ctx context.Context, c *clientv3.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "smoke/key", "value"); err != nil {
		return err
	}
	resp, err := c.Get(ctx, "smoke/key")
	if err != nil {
		return err
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "value" {
		return errors.New("unexpected get result")
	}
	return nil
}

func TestEtcd(t *testing.T) {
	t.Parallel()
	s := testserver.Etcd(t)
	c := etcdClient(t, s, nil)
	if err := etcdPutGet(t.Context(), c); err != nil {
		t.Fatal(err)
	}

	// Data and ports survive a crash and a restart.
	s.Kill(t)
	s.Start(t)
	resp, err := c.Get(t.Context(), "smoke/key")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("after restart: %v %v", resp, err)
	}
	s.Stop(t)
	s.Start(t)
	if err := etcdPutGet(t.Context(), c); err != nil {
		t.Fatalf("after graceful restart: %v", err)
	}
}

func TestEtcdTLSAuth(t *testing.T) {
	t.Parallel()
	s := testserver.Etcd(t, testserver.WithTLS(), testserver.WithAuth())
	if s.TLS == nil || s.Username != "root" || s.Password == "" {
		t.Fatalf("TLS/auth fields not set: %+v", s)
	}
	if err := etcdPutGet(t.Context(), etcdClient(t, s, nil)); err != nil {
		t.Fatal(err)
	}

	t.Run("wrong password", func(t *testing.T) {
		c, err := clientv3.New(clientv3.Config{
			Endpoints: s.Endpoints, TLS: s.TLS, Username: "root", Password: "wrong",
			DialTimeout: 10 * time.Second, Logger: zap.NewNop(),
		})
		if err == nil {
			defer func() { _ = c.Close() }()
			err = etcdPutGet(t.Context(), c)
		}
		if !errors.Is(err, rpctypes.ErrAuthFailed) {
			t.Fatalf("wrong password: got %v, want %v", err, rpctypes.ErrAuthFailed)
		}
	})
	t.Run("wrong CA", func(t *testing.T) {
		// With credentials set, clientv3.New fetches a token and so fails already; without them
		// the first call would. Either way no request may succeed.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		c, err := clientv3.New(clientv3.Config{
			Endpoints: s.Endpoints, TLS: testserver.NewCA(t).ClientTLS(t), Username: s.Username, Password: s.Password,
			DialTimeout: 3 * time.Second, Context: ctx, Logger: zap.NewNop(),
		})
		if err == nil {
			defer func() { _ = c.Close() }()
			err = etcdPutGet(ctx, c)
		}
		if err == nil {
			t.Fatal("a client that trusts another CA got an answer")
		}
		t.Logf("wrong CA: %v", err)
	})
}
