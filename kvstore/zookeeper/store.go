package zookeeper

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
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

	// mu orders track against Close, so that no worker or lock session starts once Close has
	// begun waiting for them.
	mu     sync.Mutex
	closed bool
	// life ends when Close begins; watches and locks end with it.
	life context.Context
	end  context.CancelFunc
	// workers counts the goroutines of watches and held locks, and Lock calls; Close waits for
	// them.
	workers sync.WaitGroup
	// lockSessions are the sessions of lock attempts and held locks, which Close ends.
	lockSessions map[*session]struct{}
	closeOnce    sync.Once
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
	if cfg == nil {
		cfg = &kvstore.Config{}
	}
	servers, root, err := parseEndpoints(endpoints)
	if err != nil {
		return nil, err
	}
	s := &Store{
		servers:      servers,
		cfg:          *cfg,
		layout:       layout{root: root},
		acl:          zk.WorldACL(zk.PermAll),
		lockSessions: map[*session]struct{}{},
	}
	if cfg.Username != "" {
		s.acl = zk.DigestACL(zk.PermAll, cfg.Username, cfg.Password)
	}
	s.life, s.end = context.WithCancel(context.Background())
	if s.sess, err = openSession(ctx, servers, &s.cfg, s.cfg.Timeout()); err != nil {
		s.end()
		return nil, s.wrapErr(ctx, "connect to", strings.Join(endpoints, ","), err)
	}
	// A first request shows whether the server accepts this client at all: one that enforces
	// authentication refuses a client without credentials only then.
	err = s.sess.do(ctx, func(c *zk.Conn) error {
		_, _, err := c.Exists(s.root)
		return err
	})
	if err != nil {
		err = s.wrapErr(ctx, "connect to", strings.Join(endpoints, ","), err)
		s.end()
		s.sess.close()
		return nil, err
	}
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
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.end()
		// Calls of watches blocked on an unreachable server return now.
		s.sess.abort()
		sessions := make([]*session, 0, len(s.lockSessions))
		for sess := range s.lockSessions {
			sessions = append(sessions, sess)
		}
		s.mu.Unlock()
		// Lock sessions end in parallel: each may wait up to a second for an unreachable server.
		var wg sync.WaitGroup
		for _, sess := range sessions {
			wg.Go(sess.close)
		}
		wg.Wait()
		s.workers.Wait()
		s.sess.close()
	})
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// begin checks that the Store is open and normalises key, for the start of every call.
func (s *Store) begin(ctx context.Context, op, key string, dir bool) (string, error) {
	normalize := kvstore.Normalize
	if dir {
		normalize = kvstore.NormalizeDir
	}
	canonical, err := normalize(key)
	switch {
	case s.isClosed():
		return "", fmt.Errorf("zookeeper %s %q: %w", op, key, kvstore.ErrClosed)
	case err != nil:
		return "", fmt.Errorf("zookeeper %s: %w", op, err)
	case ctx.Err() != nil:
		return "", fmt.Errorf("zookeeper %s %q: %w", op, key, ctx.Err())
	}
	return canonical, nil
}

// goWorker runs f in a goroutine that Close waits for, or returns ErrClosed.
func (s *Store) goWorker(f func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return kvstore.ErrClosed
	}
	s.workers.Go(f)
	return nil
}

// enter counts a call that Close must wait for (Lock), or returns ErrClosed. The caller calls
// s.workers.Done when it returns.
func (s *Store) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return kvstore.ErrClosed
	}
	s.workers.Add(1)
	return nil
}

// trackSession registers a lock session for Close to end, or returns ErrClosed.
func (s *Store) trackSession(sess *session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return kvstore.ErrClosed
	}
	s.lockSessions[sess] = struct{}{}
	return nil
}

func (s *Store) untrackSession(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.lockSessions, sess)
}
