package etcd

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/lifecycle"
)

func init() {
	kvstore.Register("etcd", New)
}

var _ kvstore.Store = (*Store)(nil)

// keepAliveTime is how often gRPC pings an otherwise silent connection, so that a server that
// stopped answering (a stalled network, a paused process) is noticed even while a watch stream
// is open and idle. gRPC allows no less than 10 s, and etcd's default --grpc-keepalive-min-time
// (5 s) accepts it.
const keepAliveTime = 10 * time.Second

// reconnectBackoff paces reconnection after the connection broke. gRPC's default grows to two
// minutes, so a Store would stay cut off that long after a long outage ended. etcd members are
// few and near, so trying every couple of seconds costs nothing, and at least twice per
// connection timeout, so that a call made once the server is back finds it within its timeout.
func reconnectBackoff(timeout time.Duration) backoff.Config {
	return backoff.Config{
		BaseDelay:  100 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   max(100*time.Millisecond, min(2*time.Second, timeout/3)),
	}
}

// Store is a kvstore.Store on the etcd v3 API. Create it with New; it is safe for concurrent use.
type Store struct {
	client  *clientv3.Client
	timeout time.Duration
	keys    layout

	// life ends when Close is called. Every watch and lock binds its context to it, and its
	// workers are the goroutines the Store started (watches, lock sessions and monitors) and
	// the Lock calls in progress: Close waits for them, and so for the release of every lock,
	// before it closes the client.
	life *lifecycle.Life
}

// New opens a Store on the etcd cluster at endpoints ("host:port", or "https://host:port";
// an "http://" endpoint never uses TLS, whatever cfg.TLS says). cfg.TLS, cfg.Username and
// cfg.Password, cfg.ConnectionTimeout and cfg.KeyLayout apply; the other fields do not concern
// etcd. New
// returns only once a member answered, so a wrong address, certificate or password fails here,
// within the connection timeout, rather than on the first call. ctx bounds the opening only, not
// the Store's life.
func New(ctx context.Context, endpoints []string, cfg *kvstore.Config) (kvstore.Store, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("etcd: %w: no endpoint", kvstore.ErrInvalidOption)
	}
	keys, err := newLayout(cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{timeout: cfg.Timeout(), keys: keys, life: lifecycle.New()}
	client, err := clientv3.New(clientConfig(endpoints, cfg, s.timeout))
	if err != nil {
		err = s.wrapErr(ctx, "connect", endpoints[0], err)
		_ = s.life.End()
		return nil, err
	}
	s.client = client
	if err := s.probe(ctx); err != nil {
		_ = s.life.End()
		_ = client.Close() // the probe's error is the one worth reporting
		return nil, err
	}
	return s, nil
}

func clientConfig(endpoints []string, cfg *kvstore.Config, timeout time.Duration) clientv3.Config {
	cc := clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          timeout,
		DialKeepAliveTime:    keepAliveTime,
		DialKeepAliveTimeout: timeout,
		// The client would otherwise build a logger of its own that writes to stderr.
		Logger: zap.NewNop(),
		DialOptions: []grpc.DialOption{
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff: reconnectBackoff(timeout),
				// A connection attempt to a server that accepts TCP but never answers would
				// otherwise hold the connection for 20 s.
				MinConnectTimeout: timeout,
			}),
			// Chained: it runs inside the client's own retrying interceptor, which it must not
			// replace.
			grpc.WithChainUnaryInterceptor(recordConnDetail),
		},
	}
	if cfg != nil {
		cc.TLS = cfg.TLS
		cc.Username, cc.Password = cfg.Username, cfg.Password
	}
	return cc
}

// probe makes one request through the balanced connection: the client connects lazily, so
// without it a dead endpoint would only show on the first call. Listing alarms needs no
// permission beyond being authenticated, so it works for any user that can use the Store.
func (s *Store) probe(ctx context.Context) error {
	return s.call(ctx, "connect", s.client.Endpoints()[0], func(ctx context.Context) error {
		_, err := s.client.AlarmList(ctx)
		return err
	})
}

// Close cancels every watch (their channels close), releases the Store's locks (their lost
// channels close and their leases are revoked) and closes the connection. It is idempotent;
// every call after it returns kvstore.ErrClosed.
func (s *Store) Close() error {
	return s.life.Close(s.client.Close)
}

// call runs one request to the server, bounded by the connection timeout as well as by ctx: the
// client waits for a connection as long as its context lets it, and a Store must answer within
// the timeout when the backend is down.
func (s *Store) call(ctx context.Context, op, key string, request func(ctx context.Context) error) error {
	if s.life.Ended() {
		return fmt.Errorf("etcd %s %q: %w", op, key, kvstore.ErrClosed)
	}
	callCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	callCtx, detail := withConnDetail(callCtx)
	return s.wrapErr(ctx, op, key, detail.explain(request(callCtx)))
}

// normalize checks the Store is open and returns the canonical form of key.
func (s *Store) normalize(key string) (string, error) { return s.life.Normalize("etcd", key) }

// normalizeDir is normalize for a directory, where the root is allowed.
func (s *Store) normalizeDir(dir string) (string, error) { return s.life.NormalizeDir("etcd", dir) }
