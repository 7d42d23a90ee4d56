package consul

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/lifecycle"
	"github.com/kvmirror/kvmirror/kvstore/internal/retry"
)

func init() {
	kvstore.Register("consul", New)
}

var _ kvstore.Store = (*Store)(nil)

// Store is a kvstore.Store on Consul's KV store. Open it with New.
type Store struct {
	client    *api.Client
	transport *http.Transport
	timeout   time.Duration
	// hasToken: requests carry an ACL token. Consul marks listings it filtered only for such
	// requests, so only then is an unflagged listing known to be complete.
	hasToken bool

	// minSessionTTL is the agent's session_ttl_min once an agent refused a shorter TTL; 0 until
	// then. Learning it from the refusal needs no ACL beyond session:write.
	minSessionTTL atomic.Int64

	// life ends at Close. Calls and background goroutines (watches, session renewals, lock
	// monitors) are bound to it so that Close stops them at once, whatever context their caller
	// passed, and it holds the lock sessions, which Close destroys.
	life *lifecycle.Life
}

// New opens a Store on the Consul agents at endpoints ("host:port", or with an http:// or
// https:// scheme). Requests go to one agent and move to the next when it cannot be dialled.
// cfg.TLS switches to HTTPS, cfg.Token is the ACL token sent with every request, and
// cfg.ConnectionTimeout bounds New and every later attempt to reach an agent. The Consul client
// reads a few environment variables: without cfg.Token, CONSUL_HTTP_TOKEN (or _FILE) applies, and
// CONSUL_NAMESPACE and CONSUL_PARTITION (Consul Enterprise) always do.
//
// New checks within the timeout that an agent answers and that the cluster has a leader, and that
// a given token is known to Consul (ErrPermissionDenied if not). It never touches
// http.DefaultClient or http.DefaultTransport.
func New(ctx context.Context, endpoints []string, cfg *kvstore.Config) (kvstore.Store, error) {
	if err := cfg.RefuseKeyLayout("consul"); err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = &kvstore.Config{}
	}
	eps, err := parseEndpoints(endpoints, cfg.TLS != nil)
	if err != nil {
		return nil, err
	}
	transport := newTransport(cfg, len(eps))
	client, err := api.NewClient(&api.Config{
		Address:    eps[0].host,
		Scheme:     eps[0].scheme,
		Transport:  transport,
		HttpClient: &http.Client{Transport: &failover{base: transport, endpoints: eps}},
		Token:      cfg.Token,
	})
	if err != nil {
		return nil, fmt.Errorf("consul: %w", err)
	}
	s := &Store{client: client, transport: transport, timeout: cfg.Timeout(), life: lifecycle.New(),
		hasToken: cfg.Token != "" || os.Getenv("CONSUL_HTTP_TOKEN") != "" || os.Getenv("CONSUL_HTTP_TOKEN_FILE") != ""}
	if err := s.ping(ctx, cfg.Token != ""); err != nil {
		_ = s.life.End()
		transport.CloseIdleConnections()
		return nil, err
	}
	return s, nil
}

// ping waits, within the connection timeout, for an agent that knows the cluster's leader, then
// checks the token: Consul answers status requests to anyone, so a wrong token would otherwise
// show only at the first KV call.
func (s *Store) ping(ctx context.Context, checkToken bool) error {
	ctx, cancel := context.WithTimeoutCause(ctx, s.timeout, errNoAnswer)
	defer cancel()
	for {
		leader, err := s.client.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
		if err == nil && leader != "" {
			break
		}
		if err == nil {
			err = errors.New("the cluster has no leader")
		} else if mapped := mapError(ctx, err); !retryable(mapped) {
			return fmt.Errorf("consul: open: %w", mapped)
		}
		if !retry.Sleep(ctx, 100*time.Millisecond) {
			return fmt.Errorf("consul: open: %w", mapError(ctx, err))
		}
	}
	if !checkToken {
		return nil
	}
	_, _, err := s.client.ACL().TokenReadSelf((&api.QueryOptions{}).WithContext(ctx))
	if isStatus(err, http.StatusForbidden) || ctx.Err() != nil {
		return fmt.Errorf("consul: open: checking the ACL token: %w", mapError(ctx, err))
	}
	// Any other answer (ACLs disabled, for one) means the token was not refused.
	return nil
}

// Close stops every watch (their channels close), closes the lost channel of every lock this
// Store holds and destroys the lock sessions (their keys go with them), then closes idle
// connections. Keys written with a TTL keep their TTL. Close waits up to the connection timeout
// for an unreachable agent. It is idempotent; every later call returns kvstore.ErrClosed.
func (s *Store) Close() error {
	return s.life.Close(func() error {
		// Every request has ended, so every connection is idle or closed: none is left behind.
		s.transport.CloseIdleConnections()
		return nil
	})
}

// enterKey starts a call on key (see lifecycle.Life.Enter), normalised.
func (s *Store) enterKey(ctx context.Context, key string) (context.Context, string, func(), error) {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return nil, "", nil, err
	}
	ctx, leave, err := s.life.Enter(ctx)
	return ctx, key, leave, err
}

// enterDir is enterKey for a directory, where the root "" is allowed.
func (s *Store) enterDir(ctx context.Context, dir string) (context.Context, string, func(), error) {
	dir, err := kvstore.NormalizeDir(dir)
	if err != nil {
		return nil, "", nil, err
	}
	ctx, leave, err := s.life.Enter(ctx)
	return ctx, dir, leave, err
}

// attempt bounds one request to the connection timeout, so that an agent that accepts
// connections but never answers (stopped, overloaded) gives an error rather than a hang.
func (s *Store) attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout, errNoAnswer)
}

// queryOptions carries ctx into a Consul read, so that cancelling ctx ends the request at once.
func queryOptions(ctx context.Context, consistent bool) *api.QueryOptions {
	return (&api.QueryOptions{RequireConsistent: consistent}).WithContext(ctx)
}

// writeOptions carries ctx into a Consul write.
func writeOptions(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{}).WithContext(ctx)
}
