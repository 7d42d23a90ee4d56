package leadership_test

import (
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestLeaderCutOffFromStore stalls the leader's connection to the election store. The leader
// must stop acting, and exit non-zero to restart clean, before its lock can expire on the server
// and let another replica in.
func TestLeaderCutOffFromStore(t *testing.T) {
	kv := testserver.Etcd(t)
	c := newCluster(t, kv.Endpoints)
	proxy := testserver.NewProxy(t, kv.Endpoints[0])
	election := openStore(t, "etcd://"+kv.Endpoints[0])

	cutOff := startReplica(t, c, "cut-off", "etcd://"+proxy.Addr(), ttl)
	if leader, _ := waitLeader(t, election, "", 60*time.Second); leader != "cut-off" {
		t.Fatalf("leader is %s, want cut-off (the only replica)", leader)
	}
	waitMirroredBy(t, c, "cut-off")
	other := startReplica(t, c, "other", "etcd://"+kv.Endpoints[0], ttl)
	eventually(t, 60*time.Second, "second replica ready", func() bool { return other.ready(t.Context()) })

	proxy.Stall()
	stalled := time.Now()
	next, _ := waitLeader(t, election, "cut-off", 6*ttl)
	elected := time.Now()
	if next != "other" {
		t.Fatalf("new leader %s, want other", next)
	}
	code := cutOff.waitExit(t, 30*time.Second)
	stoppedAt, ok := cutOff.loggedAt("deposed; controllers stopped")
	if !ok {
		t.Fatalf("cut-off leader did not log that it stopped its controllers:\n%s", cutOff.logTail(20))
	}
	t.Logf("cut-off leader stopped its controllers %s after the stall and exited with code %d; other elected %s after the stall",
		stoppedAt.Sub(stalled).Round(time.Millisecond), code, elected.Sub(stalled).Round(time.Millisecond))
	if code == 0 {
		t.Error("a deposed leader exited 0; it must exit non-zero so that it restarts clean")
	}
	if !stoppedAt.Before(elected) {
		t.Errorf("cut-off leader stopped acting at +%s, after the other replica was elected at +%s",
			stoppedAt.Sub(stalled), elected.Sub(stalled))
	}
	proxy.Resume()
	// The new leader acts: a change in the store reaches the ConfigMap under its name.
	if err := election.Put(t.Context(), "app/after-cut-off", []byte("1"), nil); err != nil {
		t.Fatal(err)
	}
	waitMirroredBy(t, c, "other")
}

// TestStoreDownAtStart starts replicas while the election store is down: they serve probes and
// metrics, report that they do not lead, and elect a leader as soon as the store is back.
func TestStoreDownAtStart(t *testing.T) {
	kv := testserver.Etcd(t)
	c := newCluster(t, kv.Endpoints)
	kv.Stop(t)
	url := "etcd://" + kv.Endpoints[0]
	replicas := []*replica{startReplica(t, c, "a", url, ttl), startReplica(t, c, "b", url, ttl)}
	for _, r := range replicas {
		eventually(t, 60*time.Second, r.name+" ready with the store down", func() bool {
			leading, err := r.leaderMetric(t.Context())
			return r.ready(t.Context()) && err == nil && leading == 0
		})
	}
	time.Sleep(2 * time.Second) // still down: nobody may have started acting
	for _, r := range replicas {
		if !r.alive() {
			t.Fatalf("replica %s exited while the store was down:\n%s", r.name, r.logTail(20))
		}
	}
	kv.Start(t)
	leader, took := waitLeader(t, openStore(t, url), "", 60*time.Second)
	t.Logf("%s elected %s after the store came back", leader, took.Round(time.Millisecond))
	waitMirroredBy(t, c, leader)
	leaders := 0
	for _, r := range replicas {
		if v, err := r.leaderMetric(t.Context()); err == nil && v == 1 {
			leaders++
		}
	}
	if leaders != 1 {
		t.Errorf("%d replicas report kvmirror_leader 1, want exactly 1", leaders)
	}
}
