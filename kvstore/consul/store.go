package consul

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore"
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

	// life ends at Close. Background goroutines (watches, session renewals, lock monitors) run
	// under it so that Close stops them at once, whatever context their caller passed.
	life context.Context
	end  context.CancelFunc

	mu       sync.Mutex
	closed   bool
	sessions map[*session]struct{} // lock sessions, destroyed by Close
	calls    sync.WaitGroup        // calls in progress, cancelled and waited for by Close
	wg       sync.WaitGroup        // background goroutines, waited for by Close
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
	s := &Store{client: client, transport: transport, timeout: cfg.Timeout(), sessions: map[*session]struct{}{},
		hasToken: cfg.Token != "" || os.Getenv("CONSUL_HTTP_TOKEN") != "" || os.Getenv("CONSUL_HTTP_TOKEN_FILE") != ""}
	s.life, s.end = context.WithCancel(context.Background())
	if err := s.ping(ctx, cfg.Token != ""); err != nil {
		s.end()
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
		if sleep(ctx, 100*time.Millisecond) != nil {
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
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	sessions := s.sessions
	s.sessions = nil
	s.mu.Unlock()

	s.end()
	errs := make(chan error, len(sessions))
	var destroying sync.WaitGroup
	for ss := range sessions {
		destroying.Go(func() { errs <- ss.shutdown(context.Background()) })
	}
	destroying.Wait()
	close(errs)
	s.calls.Wait()
	s.wg.Wait()
	// Every request has ended, so every connection is idle or closed: none is left behind.
	s.transport.CloseIdleConnections()
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// enter starts a call: it returns ErrClosed after Close, and otherwise ctx bound to the Store's
// life (Close cancels the call, which then returns ErrClosed) and the function that ends the call.
func (s *Store) enter(ctx context.Context) (context.Context, func(), error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, kvstore.ErrClosed
	}
	s.calls.Add(1)
	s.mu.Unlock()
	ctx, stop := s.bind(ctx)
	return ctx, func() {
		stop()
		s.calls.Done()
	}, nil
}

// begin starts a call on key, normalised.
func (s *Store) begin(ctx context.Context, key string) (context.Context, string, func(), error) {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return nil, "", nil, err
	}
	ctx, leave, err := s.enter(ctx)
	return ctx, key, leave, err
}

// beginDir is begin for a directory, where the root "" is allowed.
func (s *Store) beginDir(ctx context.Context, dir string) (context.Context, string, func(), error) {
	dir, err := kvstore.NormalizeDir(dir)
	if err != nil {
		return nil, "", nil, err
	}
	ctx, leave, err := s.enter(ctx)
	return ctx, dir, leave, err
}

// spawn runs fn in a goroutine that Close waits for. It returns ErrClosed after Close.
func (s *Store) spawn(fn func()) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return kvstore.ErrClosed
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return nil
}

// attempt bounds one request to the connection timeout, so that an agent that accepts
// connections but never answers (stopped, overloaded) gives an error rather than a hang.
func (s *Store) attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, s.timeout, errNoAnswer)
}

// bind returns a context that ends with ctx or at Close, whichever comes first; its cause is then
// kvstore.ErrClosed.
func (s *Store) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.life, func() { cancel(kvstore.ErrClosed) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

// queryOptions carries ctx into a Consul read, so that cancelling ctx ends the request at once.
func queryOptions(ctx context.Context, consistent bool) *api.QueryOptions {
	return (&api.QueryOptions{RequireConsistent: consistent}).WithContext(ctx)
}

// writeOptions carries ctx into a Consul write.
func writeOptions(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{}).WithContext(ctx)
}

// sleep waits for d or until ctx ends, and then returns ctx.Err().
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
