package etcdv2

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/lifecycle"
)

func init() {
	kvstore.Register("etcdv2", New)
}

var _ kvstore.Store = (*Store)(nil)

// Store is a kvstore.Store on the etcd v2 keys API. Create it with New; it is safe for
// concurrent use.
type Store struct {
	keys      client.KeysAPI
	client    client.Client
	transport *http.Transport
	timeout   time.Duration
	poll      time.Duration // watchPoll; shorter in tests
	// reshaped, when set (by tests only), runs between the two requests of a call on a plain
	// key, where another client may turn the file into a directory: the tests use it to make
	// that race happen on cue.
	reshaped func()

	// life ends when Close is called. Every call, watch and lock binds its context to it, and
	// its workers are the calls in progress and the goroutines the Store started (watches,
	// lock keepers): Close waits for them before it closes the idle connections, so that no
	// connection goroutine outlives the Store.
	life *lifecycle.Life
}

// New opens a Store on the etcd cluster at endpoints ("host:port", or a URL with http:// or
// https://), which must serve the v2 API (etcd 3.4 and older; 3.4 needs --enable-v2).
// cfg.TLS, cfg.Username/cfg.Password and cfg.ConnectionTimeout apply; the other fields do not
// concern etcd. The Store has its own HTTP transport: no process-wide client or transport is
// used or changed. New returns once a member answered an authenticated request, so a wrong
// address, certificate or password fails here, within the connection timeout. ctx bounds the
// opening only, not the Store's life.
func New(ctx context.Context, endpoints []string, cfg *kvstore.Config) (kvstore.Store, error) {
	if err := cfg.RefuseKeyLayout("etcdv2"); err != nil {
		return nil, err
	}
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("etcdv2: %w: no endpoint", kvstore.ErrInvalidOption)
	}
	s := &Store{timeout: cfg.Timeout(), poll: watchPoll, life: lifecycle.New()}
	s.transport = newTransport(cfg, s.timeout)
	cc := client.Config{
		Endpoints: urls(endpoints, cfg != nil && cfg.TLS != nil),
		Transport: s.transport,
		// Bounds every request but watches (the client exempts those): a server that accepts
		// connections but does not answer fails within the timeout.
		HeaderTimeoutPerRequest: s.timeout,
	}
	if cfg != nil {
		cc.Username, cc.Password = cfg.Username, cfg.Password
	}
	c, err := client.New(cc)
	if err != nil {
		_ = s.life.End()
		return nil, fmt.Errorf("etcdv2: %w: %w", kvstore.ErrInvalidOption, err)
	}
	s.client, s.keys = c, client.NewKeysAPI(c)
	if err := s.probe(ctx); err != nil {
		_ = s.Close() // the probe's error is the one worth reporting
		return nil, err
	}
	return s, nil
}

// newTransport returns the Store's own transport, so that nothing is shared with
// http.DefaultTransport or with other Stores.
func newTransport(cfg *kvstore.Config, timeout time.Duration) *http.Transport {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: 0, // watches wait for their first byte as long as nothing changes
		// Each watch holds a connection for its long poll; keep enough idle ones that a Store
		// with many watches does not reconnect after every event.
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	if cfg != nil && cfg.TLS != nil {
		tr.TLSClientConfig = cfg.TLS.Clone()
	}
	return tr
}

// urls turns "host:port" endpoints into URLs, https when TLS is configured.
func urls(endpoints []string, tls bool) []string {
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	out := make([]string, len(endpoints))
	for i, ep := range endpoints {
		if strings.Contains(ep, "://") {
			out[i] = ep
		} else {
			out[i] = scheme + ep
		}
	}
	return out
}

// probe reads the hidden bookkeeping root: it needs the credentials to be right (with v2 auth
// on, a wrong password is refused), is cheap whatever the size of the data, and a missing node
// is an answer like any other.
func (s *Store) probe(ctx context.Context) error {
	return s.call(ctx, "connect", s.client.Endpoints()[0], func(ctx context.Context) error {
		_, err := s.keys.Get(ctx, hiddenRoot, nil)
		if isCode(err, client.ErrorCodeKeyNotFound) {
			return nil
		}
		return err
	})
}

// Close cancels every watch (their channels close), releases the Store's locks (their lost
// channels close, their nodes are deleted so that waiters go ahead at once) and closes the
// connections. It is idempotent; every call after it returns kvstore.ErrClosed.
func (s *Store) Close() error {
	return s.life.Close(func() error {
		s.transport.CloseIdleConnections()
		return nil
	})
}

// call runs one operation (one or a few requests) as a worker of the Store, bounded by ctx, by
// Close, and by the connection timeout: the Store must answer within it when the backend is
// down.
func (s *Store) call(ctx context.Context, op, key string, request func(ctx context.Context) error) error {
	if !s.life.Track() {
		return fmt.Errorf("etcdv2 %s %q: %w", op, key, kvstore.ErrClosed)
	}
	defer s.life.Done()
	bound, cancel := s.life.Bind(ctx)
	defer cancel()
	bound, cancelTimeout := context.WithTimeout(bound, s.timeout)
	defer cancelTimeout()
	return s.wrapErr(ctx, op, key, request(bound))
}

// normalize checks the Store is open and returns the canonical form of key.
func (s *Store) normalize(key string) (string, error) { return s.life.Normalize("etcdv2", key) }

// normalizeDir is normalize for a directory, where the root is allowed.
func (s *Store) normalizeDir(dir string) (string, error) { return s.life.NormalizeDir("etcdv2", dir) }
