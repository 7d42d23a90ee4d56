package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvmirror/kvmirror/kvstore"
)

// session is the lease of one Lock call, kept alive until it ends. The contender's waiter key
// and, once the lock is held, the lock key are attached to it, so that its end, by revocation or
// expiry, removes both in one step.
type session struct {
	s   *Store
	id  clientv3.LeaseID
	ttl time.Duration // as granted: the server may raise the TTL asked for to its minimum
	// alive ends, with cause errSessionEnded, when the lease is gone or may be gone: the server
	// said so, or the TTL has passed since the last renewal that the server confirmed. It is a
	// context so that requests made for the session, watches included, end with it.
	alive  context.Context
	expire context.CancelCauseFunc
	stop   context.CancelFunc
	done   chan struct{}
}

// newSession grants a lease for ttl and keeps it alive until renew closes or the session ends.
func (s *Store) newSession(ctx context.Context, key string, ttl time.Duration, renew <-chan struct{}) (*session, error) {
	start := time.Now()
	var grant *clientv3.LeaseGrantResponse
	err := s.call(ctx, "lock", key, func(ctx context.Context) (err error) {
		grant, err = s.client.Grant(ctx, leaseSeconds(ttl))
		return err
	})
	if err != nil {
		return nil, err
	}
	se := &session{s: s, id: grant.ID, ttl: time.Duration(grant.TTL) * time.Second, done: make(chan struct{})}
	se.alive, se.expire = context.WithCancelCause(context.Background())
	if !s.life.Track() {
		_ = s.revoke(se.id) // best effort: the Store is closing
		return nil, fmt.Errorf("etcd lock %q: %w", key, kvstore.ErrClosed)
	}
	runCtx, stop := context.WithCancel(s.life.Context())
	se.stop = stop
	go se.run(runCtx, renew, start)
	return se, nil
}

// The session renews its lease itself, every quarter of the TTL, rather than through the
// client's KeepAlive: the client renews every third of the TTL rounded up to its 500 ms tick
// (every second for etcd's 2 s minimum) and learns of a lost lease only at the TTL after the
// last answer, checked once a second. Here a renewal counts from the moment it was sent, which
// the server's own renewal cannot precede, so the session takes the lease for gone no later than
// the server expires it, and a late answer still leaves three quarters of the TTL.
func (se *session) run(ctx context.Context, renew <-chan struct{}, start time.Time) {
	defer se.s.life.Done()
	defer close(se.done)
	deadline := start.Add(se.ttl)
	expiry := time.NewTimer(time.Until(deadline))
	defer expiry.Stop()
	tick := time.NewTimer(se.ttl / 4)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			sent := time.Now()
			switch err := se.renew(ctx, deadline); {
			case err == nil:
				deadline = sent.Add(se.ttl)
				expiry.Reset(time.Until(deadline))
			case errors.Is(err, rpctypes.ErrLeaseNotFound):
				se.expire(errSessionEnded) // revoked, or expired already
				return
			}
			tick.Reset(se.ttl / 4)
		case <-renew:
			// Stop renewing: the lease lives out its TTL.
			renew = nil
			tick.Stop()
		case <-expiry.C:
			se.expire(errSessionEnded)
			return
		case <-ctx.Done():
			return
		}
	}
}

// renew renews the lease once. It gives up at deadline: a renewal sent later would count from
// a moment when the lease may already have expired.
func (se *session) renew(ctx context.Context, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	_, err := se.s.client.KeepAliveOnce(ctx, se.id)
	return err
}

// close stops renewal and revokes the lease, which deletes every key attached to it.
func (se *session) close() error {
	se.stop()
	<-se.done
	se.expire(errSessionEnded)
	return se.s.revoke(se.id)
}

// bind returns a context that ends with ctx or with the session.
func (se *session) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(se.alive, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// revoke revokes a lease. It runs during Close too, so it does not check that the Store is open,
// and bounds itself by the connection timeout, since the caller's context may be gone. A lease
// that expired already is not an error.
func (s *Store) revoke(id clientv3.LeaseID) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	_, err := s.client.Revoke(ctx, id)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return nil
	}
	return err
}
