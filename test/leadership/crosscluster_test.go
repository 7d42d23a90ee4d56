package leadership_test

import (
	"syscall"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestCrossCluster runs one manager in each of two clusters (two API servers) on the same
// election store and key: exactly one cluster mirrors, and when its manager stops the other
// cluster takes over.
func TestCrossCluster(t *testing.T) {
	kv := testserver.Etcd(t)
	url := "etcd://" + kv.Endpoints[0]
	east, west := newCluster(t, kv.Endpoints), newCluster(t, kv.Endpoints)
	store := openStore(t, url)
	if err := store.Put(t.Context(), "app/region", []byte("shared"), nil); err != nil {
		t.Fatal(err)
	}
	replicas := map[string]*replica{
		"east": startReplica(t, east, "east", url, ttl),
		"west": startReplica(t, west, "west", url, ttl),
	}
	clusters := map[string]*cluster{"east": east, "west": west}
	leader, _ := waitLeader(t, store, "", 60*time.Second)
	follower := map[string]string{"east": "west", "west": "east"}[leader]
	waitMirroredBy(t, clusters[leader], leader)

	// The follower's cluster must stay without a ConfigMap: its manager does not act.
	time.Sleep(2 * ttl)
	if cm, err := clusters[follower].configMap(t.Context()); err != nil || cm != nil {
		t.Fatalf("cluster %s has a ConfigMap (%v) while %s leads", follower, err, leader)
	}
	replicas[leader].signal(syscall.SIGTERM)
	next, took := waitLeader(t, store, leader, 30*time.Second)
	t.Logf("%s took over from %s in %s", next, leader, took.Round(time.Millisecond))
	if next != follower {
		t.Fatalf("new leader %s, want %s", next, follower)
	}
	waitMirroredBy(t, clusters[follower], follower)
}
