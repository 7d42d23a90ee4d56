package leadership_test

import (
	"context"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestDeposedBeforeLockExpires cuts the leader off from etcd (a proxy that stops forwarding) and
// checks the order of events that fencing depends on: the old leader reports its deposition
// before the other candidate is elected, that is before the lock expired on the server.
func TestDeposedBeforeLockExpires(t *testing.T) {
	server := testserver.Etcd(t)
	proxy := testserver.NewProxy(t, server.Endpoints[0])
	const ttl = 3 * time.Second
	cfg := &kvstore.Config{ConnectionTimeout: 5 * time.Second}
	viaProxy := open(t, func(ctx context.Context) (kvstore.Store, error) {
		return etcd.New(ctx, []string{proxy.Addr()}, cfg)
	})
	direct := open(t, func(ctx context.Context) (kvstore.Store, error) {
		return etcd.New(ctx, server.Endpoints, cfg)
	})
	key := "election/cutoff"
	old := campaign(t, viaProxy, key, "old", ttl)
	old.waitElected(t, 10*time.Second)
	successor := campaign(t, direct, key, "successor", ttl)

	proxy.Stall()
	stalled := time.Now()
	if ev, _ := kvtest.Receive(t, old.latest, 3*ttl, "cut-off leader stepping down"); ev {
		t.Fatal("cut-off leader reported an election")
	}
	deposedAt := time.Now()
	t.Logf("cut-off leader stepped down %s after the stall", deposedAt.Sub(stalled))
	successor.waitElected(t, 3*ttl)
	electedAt := time.Now()
	t.Logf("successor elected %s after the stall", electedAt.Sub(stalled))
	if !deposedAt.Before(electedAt) {
		t.Fatalf("successor elected at %s, before the old leader stepped down at %s", electedAt, deposedAt)
	}
	if deposedAt.Sub(stalled) >= ttl {
		t.Fatalf("old leader stepped down %s after the stall, not before the TTL %s", deposedAt.Sub(stalled), ttl)
	}
	proxy.Resume()
}
