package zookeeper

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
)

// session is one ZooKeeper session: a go-zookeeper connection, the routing of its events, and
// what close needs to end every goroutine the connection started. The Store has one for its
// calls and watches; each lock attempt has its own, whose timeout is the lock's TTL.
type session struct {
	conn    *zk.Conn
	events  <-chan zk.Event // closed by go-zookeeper once its connection loop has ended
	router  router
	log     connLog
	timeout time.Duration // bounds each call and each connection attempt

	endDial context.CancelFunc
	netMu   sync.Mutex
	netConn net.Conn // the connection go-zookeeper is using, closed by close

	// mu orders calls.Add against close, so that close can wait for every call.
	mu     sync.Mutex
	closed bool
	done   chan struct{}
	calls  sync.WaitGroup
	once   sync.Once
}

// openSession connects to servers and returns once the server granted a session, or fails
// within cfg's connection timeout. With credentials, it adds them (digest scheme) before anything
// else, as a server enforcing authentication requires.
func openSession(ctx context.Context, servers []string, cfg *kvstore.Config, sessionTimeout time.Duration) (*session, error) {
	s := &session{timeout: cfg.Timeout(), done: make(chan struct{})}
	dialCtx, endDial := context.WithCancel(context.Background())
	s.endDial = endDial
	conn, events, err := zk.Connect(servers, sessionTimeout,
		zk.WithDialer(s.dialer(dialCtx, cfg.TLS)),
		zk.WithLogger(&s.log), zk.WithLogInfo(false),
		zk.WithEventCallback(s.router.dispatch))
	if err != nil {
		endDial()
		return nil, fmt.Errorf("%w: %w", kvstore.ErrUnreachable, err) // no endpoint resolved
	}
	s.conn, s.events = conn, events
	if err := s.awaitSession(ctx, servers, cfg.TLS != nil); err != nil {
		s.close()
		return nil, err
	}
	if cfg.Username != "" {
		auth := []byte(cfg.Username + ":" + cfg.Password)
		if err := s.do(ctx, func(c *zk.Conn) error { return c.AddAuth("digest", auth) }); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// dialer connects over TLS when cfg is set. It ignores go-zookeeper's fixed 1 s timeout in favour
// of the connection timeout (a TLS handshake with a JVM just started can take longer), and its
// connections end with the session, even one stuck in a handshake with a frozen server.
func (s *session) dialer(ctx context.Context, cfg *tls.Config) zk.Dialer {
	return func(network, address string, _ time.Duration) (net.Conn, error) {
		nd := &net.Dialer{Timeout: s.timeout}
		var c net.Conn
		var err error
		if cfg == nil {
			c, err = nd.DialContext(ctx, network, address)
		} else {
			c, err = (&tls.Dialer{NetDialer: nd, Config: cfg}).DialContext(ctx, network, address)
		}
		if err != nil {
			return nil, err
		}
		s.netMu.Lock()
		s.netConn = c
		s.netMu.Unlock()
		return c, nil
	}
}

func (s *session) awaitSession(ctx context.Context, servers []string, useTLS bool) error {
	mb := s.router.subscribe(nil)
	defer s.router.unsubscribe(mb)
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	for s.conn.State() != zk.StateHasSession {
		select {
		case <-mb.wake:
			mb.take()
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("%w: no session with %v within %s%s%s", kvstore.ErrUnreachable, servers, s.timeout, s.log.detail(), s.log.hint(useTLS))
		}
	}
	return nil
}

// call runs fn, one or more blocking go-zookeeper requests, bounded by ctx, by the connection
// timeout (a stalled server does not hold a call longer) and by close. When it returns early, fn
// goes on in the background until go-zookeeper answers or gives up, and its result is dropped;
// close waits for it. fn must therefore return what it read rather than store it.
func call[T any](ctx context.Context, s *session, fn func(c *zk.Conn) (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return zero, kvstore.ErrClosed
	}
	s.calls.Add(1)
	s.mu.Unlock()
	type result struct {
		v   T
		err error
	}
	results := make(chan result, 1)
	go func() {
		defer s.calls.Done()
		v, err := fn(s.conn)
		results <- result{v, err}
	}()
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case r := <-results:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-timer.C:
		return zero, fmt.Errorf("%w: no answer within %s%s", kvstore.ErrUnreachable, s.timeout, s.log.detail())
	case <-s.done:
		return zero, kvstore.ErrClosed
	}
}

// do is call for requests that return nothing but an error.
func (s *session) do(ctx context.Context, fn func(c *zk.Conn) error) error {
	_, err := call(ctx, s, func(c *zk.Conn) (struct{}, error) { return struct{}{}, fn(c) })
	return err
}

// znode is a node's data and stat as one read returned them.
type znode struct {
	data []byte
	stat *zk.Stat
}

// close ends the session: the server deletes its ephemeral nodes (lock nodes) at once if it can
// be reached, otherwise when the session times out. close returns once every goroutine of the
// session has ended; it is idempotent.
func (s *session) close() {
	s.once.Do(func() {
		s.abort()
		s.conn.Close() // asks the server to end the session, waiting at most 1 s for its answer
		s.endDial()
		// A connection whose server froze keeps go-zookeeper's loop in a read for up to ten
		// receive timeouts; closing it ends the loop now.
		s.netMu.Lock()
		if s.netConn != nil {
			_ = s.netConn.Close()
		}
		s.netMu.Unlock()
		for range s.events {
		}
		s.calls.Wait()
	})
}

// abort makes calls in progress and later ones return ErrClosed at once, without ending the
// session yet.
func (s *session) abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

// sessionID is the server's id of the current session (a new one after an expiry).
func (s *session) sessionID() int64 { return s.conn.SessionID() }

// connLog receives go-zookeeper's log lines, so that none reaches the process-wide logger. The
// last one explains a failed connection (a refused port, a certificate error).
type connLog struct {
	mu   sync.Mutex
	last string
}

func (l *connLog) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.last = msg
	l.mu.Unlock()
}

// hint guesses the usual cause of a connection the server closed at once: TLS on one side only.
func (l *connLog) hint(useTLS bool) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case !strings.HasSuffix(l.last, "EOF"):
		return ""
	case useTLS:
		return "; the server closed the connection during the TLS handshake: is this its secureClientPort?"
	default:
		return "; the server closed the connection at once: does it expect TLS (Config.TLS)?"
	}
}

func (l *connLog) detail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == "" {
		return ""
	}
	return " (last: " + l.last + ")"
}
