package consul

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Consul sessions carry both key TTLs and locks. Consul invalidates a session 2×TTL after its
// creation or last renewal (the TTL is a lower bound only), so kvmirror asks for half the wanted
// time; the agent refuses TTLs under its session_ttl_min (10s by default) or over 24h.
const (
	// defaultMinSessionTTL is Consul's default session_ttl_min, assumed when the agent's refusal
	// cannot be parsed.
	defaultMinSessionTTL = 10 * time.Second
	// maxSessionTTL is Consul's fixed upper bound for a session TTL.
	maxSessionTTL = 24 * time.Hour
	// lockDelay replaces Consul's default lock-delay of 15s, which would keep every waiter out for
	// 15s after a holder's session ends. Zero cannot be sent (the agent reads it as "default").
	lockDelay = time.Millisecond
	// sessionMultiplier is how much later than its TTL Consul invalidates a session.
	sessionMultiplier = 2
)

// ttlRefusal matches the agent's answer to a TTL out of range, e.g.
// "Invalid Session TTL '500000000', must be between [1s=24h0m0s]".
var ttlRefusal = regexp.MustCompile(`must be between \[([^=\]]+)=`)

// sessionTTL returns the TTL to give Consul so that a session lapses about lifetime after its
// last renewal: lifetime/2, raised to the agent's minimum when known, capped at 24h.
func (s *Store) sessionTTL(lifetime time.Duration) time.Duration {
	ttl := lifetime / sessionMultiplier
	if minTTL := time.Duration(s.minSessionTTL.Load()); ttl < minTTL {
		ttl = minTTL
	}
	return min(max(ttl, time.Millisecond), maxSessionTTL)
}

// createSession creates a session that deletes its keys when it ends, with no health check (only
// its TTL ends it, whichever agent it is renewed through). A TTL under the agent's minimum is
// raised to it and the minimum remembered.
func (s *Store) createSession(ctx context.Context, name string, lifetime time.Duration) (string, time.Duration, error) {
	for range 2 {
		ttl := s.sessionTTL(lifetime)
		entry := &api.SessionEntry{Name: name, TTL: ttl.String(), Behavior: api.SessionBehaviorDelete, LockDelay: lockDelay}
		actx, cancel := s.attempt(ctx)
		id, _, err := s.client.Session().CreateNoChecks(entry, writeOptions(actx))
		mapped := mapError(actx, err)
		cancel()
		if err == nil {
			return id, ttl, nil
		}
		minTTL, refused := parseMinTTL(err)
		if !refused || time.Duration(s.minSessionTTL.Load()) >= minTTL {
			return "", 0, mapped
		}
		s.minSessionTTL.Store(int64(minTTL))
	}
	return "", 0, errors.New("consul: the agent refused every session TTL")
}

func parseMinTTL(err error) (time.Duration, bool) {
	_, body, ok := statusOf(err)
	if !ok || !strings.Contains(body, "Invalid Session TTL") {
		return 0, false
	}
	if m := ttlRefusal.FindStringSubmatch(body); m != nil {
		if d, err := time.ParseDuration(m[1]); err == nil && d > 0 {
			return d, true
		}
	}
	return defaultMinSessionTTL, true
}

// destroySession ends a session; Consul deletes the keys it holds in the same step.
func (s *Store) destroySession(ctx context.Context, id string) error {
	actx, cancel := s.attempt(ctx)
	defer cancel()
	_, err := s.client.Session().Destroy(id, writeOptions(actx))
	return mapError(actx, err)
}

// errSessionGone: the agent no longer knows the session (it expired or was destroyed).
var errSessionGone = errors.New("consul: session expired")

// renewSession renews a session; errSessionGone when Consul no longer has it.
func (s *Store) renewSession(ctx context.Context, id string) error {
	actx, cancel := s.attempt(ctx)
	defer cancel()
	var entries []*api.SessionEntry
	_, err := s.client.Raw().Write("/v1/session/renew/"+id, nil, &entries, writeOptions(actx))
	if isStatus(err, http.StatusNotFound) || err == nil && len(entries) == 0 {
		return errSessionGone
	}
	return mapError(actx, err)
}

// session is a lock's Consul session, renewed in the background until it is shut down, found
// gone, or left to lapse because the lock's RenewLock channel was closed.
type session struct {
	s   *Store
	id  string
	ttl time.Duration // as given to Consul; it lapses sessionMultiplier×ttl after the last renewal

	// alive ends when the session is known or presumed gone, or shut down.
	alive context.Context
	kill  context.CancelFunc
	done  chan struct{} // closed when the renewal goroutine has returned
	once  sync.Once
	err   error // of the destroy request, set by shutdown

	mu   sync.Mutex
	hook func() // run by shutdown before the destroy request
}

// beforeDestroy registers f to run when shutdown begins, before the session (and the lock key
// with it) is destroyed: a holder learns of the loss before any waiter can acquire.
func (ss *session) beforeDestroy(f func()) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.hook = f
}

// newSession creates a lock session and starts renewing it; renewal stops when stopRenew is
// closed (nil: never). The Store destroys it at Close.
func (s *Store) newSession(ctx context.Context, lifetime time.Duration, stopRenew <-chan struct{}) (*session, error) {
	sent := time.Now()
	id, ttl, err := s.createSession(ctx, "kvmirror-lock", lifetime)
	if err != nil {
		return nil, err
	}
	ss := &session{s: s, id: id, ttl: ttl, done: make(chan struct{})}
	ss.alive, ss.kill = context.WithCancel(s.life.Context())
	err = s.life.Hold(ss, func() error { return ss.shutdown(context.Background()) })
	if err != nil {
		ss.kill()
		_ = s.destroySession(context.Background(), id)
		return nil, err
	}
	err = s.life.Go(context.Background(), func(context.Context) {
		defer close(ss.done)
		defer ss.kill()
		ss.keepAlive(sent, stopRenew)
	})
	if err != nil { // closed meanwhile: Close destroys the session it holds once done is closed
		ss.kill()
		close(ss.done)
		return nil, err
	}
	return ss, nil
}

// keepAlive renews the session every ttl/2, so each renewal has three more chances before the
// session lapses at 2×ttl. It gives the session up (ending alive) when Consul no longer has it,
// or shortly before the server would let it lapse if no renewal got through: sent is when the
// last successful renewal was sent, and the server's timer started no earlier.
func (ss *session) keepAlive(sent time.Time, stopRenew <-chan struct{}) {
	lapse := sessionMultiplier * ss.ttl
	margin := min(lapse/10, time.Second)
	period := ss.ttl / 2
	timer := time.NewTimer(period)
	defer timer.Stop()
	renewing := true
	for {
		select {
		case <-ss.alive.Done():
			return
		case <-stopRenew:
			stopRenew, renewing = nil, false
		case <-timer.C:
		}
		deadline := sent.Add(lapse - margin)
		if !time.Now().Before(deadline) {
			return
		}
		if !renewing {
			timer.Reset(time.Until(deadline))
			continue
		}
		now := time.Now()
		rctx, cancel := context.WithDeadline(ss.alive, deadline)
		err := ss.s.renewSession(rctx, ss.id)
		cancel()
		switch {
		case errors.Is(err, errSessionGone):
			return
		case err == nil:
			sent = now
			timer.Reset(period)
		default:
			timer.Reset(min(period/2, time.Until(deadline)))
		}
	}
}

// shutdown stops renewal and destroys the session (and so its keys), once; later calls wait for
// the first and return its outcome. The destroy request is bounded by ctx and the connection
// timeout.
func (ss *session) shutdown(ctx context.Context) error {
	ss.once.Do(func() {
		ss.mu.Lock()
		hook := ss.hook
		ss.mu.Unlock()
		if hook != nil {
			hook()
		}
		ss.kill()
		<-ss.done
		ss.s.life.Drop(ss)
		if err := ss.s.destroySession(ctx, ss.id); err != nil {
			ss.err = fmt.Errorf("consul: destroy session %s: %w", ss.id, err)
		}
	})
	return ss.err
}
