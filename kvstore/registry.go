package kvstore

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OpenFunc opens a Store of one backend; every backend package exports one as New.
type OpenFunc func(ctx context.Context, endpoints []string, cfg *Config) (Store, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]OpenFunc{}
	aliases    = map[string]string{"zk": "zookeeper", "etcdv3": "etcd", "bolt": "boltdb"}
)

// Register makes a backend available to Open and OpenURL under name. Backend packages call it
// from init, so importing a backend package (for its side effect, if need be) registers it.
// Register panics if name is registered twice.
func Register(name string, open OpenFunc) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("kvstore: backend " + name + " registered twice")
	}
	registry[name] = open
}

// Backends returns the names of the registered backends, sorted.
func Backends() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	names := make([]string, 0, len(registry))
	for name := range registry {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Open opens a Store of the named backend ("etcd", "etcdv2", "consul", "zookeeper" or "zk",
// "boltdb"). The backend's package must have been imported.
func Open(ctx context.Context, backend string, endpoints []string, cfg *Config) (Store, error) {
	name := strings.ToLower(backend)
	if canonical, ok := aliases[name]; ok {
		name = canonical
	}
	registryMu.RLock()
	open, ok := registry[name]
	registryMu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q (registered: %s; import its package)", ErrUnknownBackend, backend, strings.Join(Backends(), ", "))
	}
	return open(ctx, endpoints, cfg)
}

// OpenURL opens the Store a URL describes; see ParseURL. Settings in the URL override those in cfg.
func OpenURL(ctx context.Context, rawURL string, cfg *Config) (Store, error) {
	backend, endpoints, merged, err := ParseURL(rawURL, cfg)
	if err != nil {
		return nil, err
	}
	return Open(ctx, backend, endpoints, merged)
}

// ParseURL splits a store URL into a backend name, endpoints and a Config, starting from a copy
// of base (which may be nil). Its forms:
//
//	etcd://h1:2379,h2:2379/            etcdv2://h1:2379   consul://h1:8500   zk://h1:2181,h2:2181
//	zk://h1:2181,h2:2181/app           (ZooKeeper with the chroot /app)
//	boltdb:///var/lib/kv.db?bucket=b    (an absolute path; boltdb://data/kv.db is relative)
//	etcd://user:password@h1:2379       (credentials; Consul takes ?token=...)
//	etcd://h1:2379?layout=plain         (etcd keys named as etcdctl writes them: "a/b", not "/a/b")
//
// Query parameters: bucket (BoltDB), timeout (a Go duration, Config.ConnectionTimeout), persist
// (true/false, Config.PersistConnection), token (Consul ACL token), layout (slash or plain,
// Config.KeyLayout; etcd only). Any other parameter is an error.
func ParseURL(rawURL string, base *Config) (backend string, endpoints []string, cfg *Config, err error) {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok || scheme == "" {
		return "", nil, nil, fmt.Errorf("kvstore: store URL %q: want backend://endpoints", rawURL)
	}
	rest, rawQuery, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	cfg = &Config{}
	if base != nil {
		*cfg = *base
	}
	if user, hosts, ok := strings.Cut(authority, "@"); ok {
		authority = hosts
		name, password, _ := strings.Cut(user, ":")
		if cfg.Username, err = url.PathUnescape(name); err == nil {
			cfg.Password, err = url.PathUnescape(password)
		}
		if err != nil {
			return "", nil, nil, fmt.Errorf("kvstore: store URL credentials: %w", err)
		}
	}
	backend = strings.ToLower(scheme)
	if canonical, ok := aliases[backend]; ok {
		backend = canonical
	}
	if backend == "boltdb" {
		file := authority + "/" + path
		if authority != "" && path == "" {
			file = authority
		}
		endpoints = []string{file}
	} else {
		for host := range strings.SplitSeq(authority, ",") {
			if host = strings.TrimSpace(host); host != "" {
				endpoints = append(endpoints, host)
			}
		}
		if chroot := strings.Trim(path, "/"); chroot != "" && len(endpoints) > 0 {
			if backend != "zookeeper" {
				return "", nil, nil, fmt.Errorf("kvstore: store URL %q: a path (/%s) applies only to ZooKeeper, as its chroot", rawURL, chroot)
			}
			endpoints[len(endpoints)-1] += "/" + chroot
		}
	}
	if len(endpoints) == 0 || endpoints[0] == "/" {
		return "", nil, nil, fmt.Errorf("kvstore: store URL %q names no endpoint", rawURL)
	}
	if err := applyQuery(cfg, rawQuery); err != nil {
		return "", nil, nil, fmt.Errorf("kvstore: store URL %q: %w", rawURL, err)
	}
	return backend, endpoints, cfg, nil
}

func applyQuery(cfg *Config, rawQuery string) error {
	query, err := url.ParseQuery(rawQuery)
	if err != nil {
		return err
	}
	for name, values := range query {
		value := values[len(values)-1]
		switch name {
		case "bucket":
			cfg.Bucket = value
		case "token":
			cfg.Token = value
		case "timeout":
			d, err := time.ParseDuration(value)
			if err != nil || d < 0 {
				return fmt.Errorf("timeout %q: want a positive duration such as 5s", value)
			}
			cfg.ConnectionTimeout = d
		case "layout":
			if value != KeyLayoutSlash && value != KeyLayoutPlain {
				return fmt.Errorf("layout %q: want %s or %s", value, KeyLayoutSlash, KeyLayoutPlain)
			}
			cfg.KeyLayout = value
		case "persist":
			b, err := strconv.ParseBool(value)
			if err != nil {
				return fmt.Errorf("persist %q: want true or false", value)
			}
			cfg.PersistConnection = b
		default:
			return fmt.Errorf("unknown parameter %q (known: bucket, layout, persist, timeout, token)", name)
		}
	}
	return nil
}
