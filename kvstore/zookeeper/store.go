package zookeeper

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/lifecycle"
)

func init() {
	kvstore.Register("zookeeper", New)
}

var _ kvstore.Store = (*Store)(nil)

// Store is a kvstore.Store on a ZooKeeper ensemble. Create it with New; it is safe for
// concurrent use.
type Store struct {
	sess    *session
	servers []string
	cfg     kvstore.Config
	layout
	// acl is given to every node the Store creates: the Store's own digest identity when it has
	// credentials, anyone otherwise.
	acl []zk.ACL
	// ttls remembers the TTL of the nodes read, for the expiry of keys (see expiry.go).
	ttls ttlCache

	// life ends when Close begins; watches and locks end with it. Its workers are the
	// goroutines of watches and held locks, and Lock calls; it holds the sessions of lock
	// attempts, and the abort of the Store's own session, which Close runs at once.
	life *lifecycle.Life
}

// New opens a Store on the ZooKeeper servers at endpoints ("host:port"; the port defaults to
// 2181). An endpoint may end with a chroot, as in ZooKeeper connection strings
// ("10.0.0.1:2181/apps/kv"): keys then live below that node instead of the server's root.
//
// cfg.TLS makes the connection use TLS (the server's secureClientPort). cfg.Username and
// cfg.Password authenticate with the digest scheme, and every node the Store creates is then
// readable and writable by that identity only. cfg.ConnectionTimeout bounds the opening, each
// call, and is the timeout of the Store's ZooKeeper session. New returns once the server granted
// a session, so a wrong address or certificate fails here, within the connection timeout. ctx
// bounds the opening only, not the Store's life. cfg.Token, cfg.Bucket and cfg.PersistConnection
// do not concern ZooKeeper.
func New(ctx context.Context, endpoints []string, cfg *kvstore.Config) (kvstore.Store, error) {
	if err := cfg.RefuseKeyLayout("zookeeper"); err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = &kvstore.Config{}
	}
	servers, root, err := parseEndpoints(endpoints)
	if err != nil {
		return nil, err
	}
	s := &Store{
		servers: servers,
		cfg:     *cfg,
		layout:  layout{root: root},
		acl:     zk.WorldACL(zk.PermAll),
		life:    lifecycle.New(),
	}
	if cfg.Username != "" {
		s.acl = zk.DigestACL(zk.PermAll, cfg.Username, cfg.Password)
	}
	if s.sess, err = openSession(ctx, servers, &s.cfg, s.cfg.Timeout()); err != nil {
		// The error is worded before the Life ends: once it has, wrapErr says ErrClosed.
		err = s.wrapErr(ctx, "connect to", strings.Join(endpoints, ","), err)
		_ = s.life.End()
		return nil, err
	}
	// A first request shows whether the server accepts this client at all: one that enforces
	// authentication refuses a client without credentials only then.
	err = s.sess.do(ctx, func(c *zk.Conn) error {
		_, _, err := c.Exists(s.root)
		return err
	})
	if err != nil {
		err = s.wrapErr(ctx, "connect to", strings.Join(endpoints, ","), err)
		_ = s.life.End()
		s.sess.close()
		return nil, err
	}
	// Calls of watches blocked on an unreachable server return as soon as Close begins.
	_ = s.life.Hold(s.sess, func() error {
		s.sess.abort()
		return nil
	})
	return s, nil
}

// parseEndpoints splits "host:port/chroot" endpoints into servers and the chroot they share.
func parseEndpoints(endpoints []string) (servers []string, root string, err error) {
	chroot := ""
	for _, e := range endpoints {
		host, path, _ := strings.Cut(strings.TrimSpace(e), "/")
		if host == "" {
			continue
		}
		servers = append(servers, host)
		if path = kvstore.Canonical(path); path != "" {
			if chroot != "" && chroot != path {
				return nil, "", fmt.Errorf("zookeeper: %w: endpoints name two chroots, %q and %q", kvstore.ErrInvalidOption, chroot, path)
			}
			chroot = path
		}
	}
	if len(servers) == 0 {
		return nil, "", fmt.Errorf("zookeeper: %w: no endpoint", kvstore.ErrInvalidOption)
	}
	root, err = parseRoot(chroot)
	return servers, root, err
}

// Close ends the Store: watch channels close, held locks are released (their lost channels
// close and their nodes are deleted at once), waiting Lock calls return ErrClosed, and the
// session ends. Close is idempotent; calls after it return ErrClosed.
func (s *Store) Close() error {
	return s.life.Close(func() error {
		s.sess.close()
		return nil
	})
}

// normalize checks that the Store is open and ctx alive, and returns the canonical form of key
// (of a directory, where the root is allowed, if dir), for the start of every call.
func (s *Store) normalize(ctx context.Context, op, key string, dir bool) (string, error) {
	normalize := kvstore.Normalize
	if dir {
		normalize = kvstore.NormalizeDir
	}
	canonical, err := normalize(key)
	switch {
	case s.life.Ended():
		return "", fmt.Errorf("zookeeper %s %q: %w", op, key, kvstore.ErrClosed)
	case err != nil:
		return "", fmt.Errorf("zookeeper %s: %w", op, err)
	case ctx.Err() != nil:
		return "", fmt.Errorf("zookeeper %s %q: %w", op, key, ctx.Err())
	}
	return canonical, nil
}
