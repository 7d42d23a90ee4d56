package kvstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url       string
		backend   string
		endpoints []string
		check     func(*kvstore.Config) bool
	}{
		{url: "etcd://h1:2379,h2:2379/", backend: "etcd", endpoints: []string{"h1:2379", "h2:2379"}},
		{url: "etcdv3://h1:2379", backend: "etcd", endpoints: []string{"h1:2379"}},
		{url: "etcdv2://h1:2379", backend: "etcdv2", endpoints: []string{"h1:2379"}},
		{url: "consul://h1:8500?token=secret", backend: "consul", endpoints: []string{"h1:8500"},
			check: func(c *kvstore.Config) bool { return c.Token == "secret" }},
		{url: "zk://h1:2181,h2:2181,h3:2181", backend: "zookeeper", endpoints: []string{"h1:2181", "h2:2181", "h3:2181"}},
		{url: "zookeeper://h1:2181", backend: "zookeeper", endpoints: []string{"h1:2181"}},
		{url: "zk://h1:2181,h2:2181/app/", backend: "zookeeper", endpoints: []string{"h1:2181", "h2:2181/app"}},
		{url: "boltdb:///var/lib/x.db?bucket=b&persist=true", backend: "boltdb", endpoints: []string{"/var/lib/x.db"},
			check: func(c *kvstore.Config) bool { return c.Bucket == "b" && c.PersistConnection }},
		{url: "boltdb://data/x.db?bucket=b", backend: "boltdb", endpoints: []string{"data/x.db"}},
		{url: "boltdb://x.db?bucket=b", backend: "boltdb", endpoints: []string{"x.db"}},
		{url: "etcd://root:p%40ss@h1:2379?timeout=3s", backend: "etcd", endpoints: []string{"h1:2379"},
			check: func(c *kvstore.Config) bool {
				return c.Username == "root" && c.Password == "p@ss" && c.ConnectionTimeout == 3*time.Second
			}},
		{url: "etcd://h1:2379?layout=plain", backend: "etcd", endpoints: []string{"h1:2379"},
			check: func(c *kvstore.Config) bool { return c.KeyLayout == kvstore.KeyLayoutPlain }},
		{url: "etcd://h1:2379/?layout=slash", backend: "etcd", endpoints: []string{"h1:2379"},
			check: func(c *kvstore.Config) bool { return c.KeyLayout == kvstore.KeyLayoutSlash }},
		{url: "etcd://h1:2379", backend: "etcd", endpoints: []string{"h1:2379"},
			check: func(c *kvstore.Config) bool { return c.KeyLayout == "" }},
	}
	for _, tt := range tests {
		backend, endpoints, cfg, err := kvstore.ParseURL(tt.url, nil)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.url, err)
			continue
		}
		if backend != tt.backend || !slices.Equal(endpoints, tt.endpoints) {
			t.Errorf("ParseURL(%q) = %q %q, want %q %q", tt.url, backend, endpoints, tt.backend, tt.endpoints)
		}
		if tt.check != nil && !tt.check(cfg) {
			t.Errorf("ParseURL(%q): config %+v not as expected", tt.url, cfg)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	for _, raw := range []string{
		"h1:2379",                    // no scheme
		"etcd://",                    // no endpoint
		"boltdb:///?bucket=b",        // no file
		"etcd://h1:2379?timeout=abc", // bad duration
		"etcd://h1:2379?persist=yes", // bad bool
		"etcd://h1:2379?colour=blue", // unknown parameter
		"etcd://h1:2379?layout=flat", // unknown layout
		"etcd://h1:2379?layout=",     // empty layout
		"etcd://h1:2379/app",         // a path is a ZooKeeper chroot only
	} {
		if _, _, _, err := kvstore.ParseURL(raw, nil); err == nil {
			t.Errorf("ParseURL(%q) succeeded, want an error", raw)
		}
	}
}

func TestParseURLKeepsBase(t *testing.T) {
	base := &kvstore.Config{Token: "from-config", ConnectionTimeout: time.Second}
	_, _, cfg, err := kvstore.ParseURL("consul://h1:8500?timeout=2s", base)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token != "from-config" || cfg.ConnectionTimeout != 2*time.Second {
		t.Errorf("merged config = %+v", cfg)
	}
	if base.ConnectionTimeout != time.Second {
		t.Error("ParseURL modified its base config")
	}
}

func TestParseURLUnknownParameterNamesKnown(t *testing.T) {
	_, _, _, err := kvstore.ParseURL("etcd://h1:2379?colour=blue", nil)
	if err == nil || !strings.Contains(err.Error(), "known: bucket, layout, persist, timeout, token") {
		t.Errorf("ParseURL(unknown parameter) = %v, want the list of known parameters", err)
	}
}

func TestRefuseKeyLayout(t *testing.T) {
	for _, cfg := range []*kvstore.Config{nil, {}} {
		if err := cfg.RefuseKeyLayout("consul"); err != nil {
			t.Errorf("RefuseKeyLayout(%+v) = %v, want nil", cfg, err)
		}
	}
	for _, layout := range []string{kvstore.KeyLayoutSlash, kvstore.KeyLayoutPlain, "flat"} {
		err := (&kvstore.Config{KeyLayout: layout}).RefuseKeyLayout("consul")
		if !errors.Is(err, kvstore.ErrInvalidOption) || !strings.Contains(err.Error(), layout) {
			t.Errorf("RefuseKeyLayout(%q) = %v, want ErrInvalidOption naming it", layout, err)
		}
	}
}

func TestOpenUnknownBackend(t *testing.T) {
	_, err := kvstore.Open(context.Background(), "redis", []string{"h:1"}, nil)
	if !errors.Is(err, kvstore.ErrUnknownBackend) {
		t.Fatalf("Open(redis) = %v, want ErrUnknownBackend", err)
	}
}

func TestRegisterAndOpen(t *testing.T) {
	var gotEndpoints []string
	kvstore.Register("test-registry", func(_ context.Context, endpoints []string, _ *kvstore.Config) (kvstore.Store, error) {
		gotEndpoints = endpoints
		return nil, errors.New("opened")
	})
	if !slices.Contains(kvstore.Backends(), "test-registry") {
		t.Fatalf("Backends() = %v, missing test-registry", kvstore.Backends())
	}
	_, err := kvstore.OpenURL(context.Background(), "test-registry://a:1,b:2", nil)
	if err == nil || err.Error() != "opened" || !slices.Equal(gotEndpoints, []string{"a:1", "b:2"}) {
		t.Fatalf("OpenURL reached %v with %v", gotEndpoints, err)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a name twice did not panic")
		}
	}()
	kvstore.Register("test-registry", nil)
}

func TestCheckOptions(t *testing.T) {
	if _, err := kvstore.CheckWrite(&kvstore.WriteOptions{TTL: -time.Second}); !errors.Is(err, kvstore.ErrInvalidOption) {
		t.Errorf("CheckWrite(negative TTL) = %v", err)
	}
	if ttl, err := kvstore.CheckWrite(nil); ttl != 0 || err != nil {
		t.Errorf("CheckWrite(nil) = %v, %v", ttl, err)
	}
	opts, err := kvstore.CheckLock(nil)
	if err != nil || opts.TTL != kvstore.DefaultLockTTL || opts.Value == nil {
		t.Errorf("CheckLock(nil) = %+v, %v", opts, err)
	}
	if _, err := kvstore.CheckLock(&kvstore.LockOptions{TTL: -1}); !errors.Is(err, kvstore.ErrInvalidOption) {
		t.Errorf("CheckLock(negative TTL) = %v", err)
	}
}
