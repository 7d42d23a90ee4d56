package leadership_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

const ttl = 3 * time.Second

// TestFailover runs three managers on one election store while the leader is, in turn, stopped
// with SIGTERM and killed with SIGKILL, and checks from the API server's own record of
// ConfigMap writes that no two replicas ever acted at once. It runs with etcd and with Consul as
// the election store (the mirrored backend is etcd in both).
func TestFailover(t *testing.T) {
	kv := testserver.Etcd(t)
	etcdURL := "etcd://" + kv.Endpoints[0]
	stores := map[string]func(t *testing.T) string{
		"etcd":   func(*testing.T) string { return etcdURL },
		"consul": func(t *testing.T) string { return "consul://" + testserver.Consul(t).Endpoints[0] },
	}
	for name, storeURL := range stores {
		t.Run(name, func(t *testing.T) {
			failover(t, kv.Endpoints, etcdURL, storeURL(t))
		})
	}
}

func failover(t *testing.T, kvEndpoints []string, kvURL, electionURL string) {
	c := newCluster(t, kvEndpoints)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := record(t, c)
	kv := openStore(t, kvURL)
	election := openStore(t, electionURL)
	writing := writer(ctx, kv, 50*time.Millisecond)

	replicas := map[string]*replica{}
	for _, name := range []string{"a", "b", "c"} {
		replicas[name] = startReplica(t, c, name, electionURL, ttl)
	}
	leader, _ := waitLeader(t, election, "", 60*time.Second)
	generation := 0
	for round, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGTERM, syscall.SIGKILL} {
		waitMirroredBy(t, c, leader)
		replicas[leader].signal(sig)
		next, took := waitLeader(t, election, leader, 3*ttl+10*time.Second)
		t.Logf("round %d: %s of %s, %s leads %s later", round, sig, leader, next, took.Round(time.Millisecond))
		// Target: under 1 s after SIGTERM, TTL + 1 s after SIGKILL. The assertions leave room for a
		// loaded 2-core machine but still fail a hand-over that waits for the lock to expire
		// after SIGTERM, or one that needs more than the TTL plus renewal slack after SIGKILL.
		switch sig {
		case syscall.SIGTERM:
			if took > ttl {
				t.Errorf("graceful hand-over took %s, not under the TTL %s: the lock was not released", took, ttl)
			}
			if code := replicas[leader].waitExit(t, 10*time.Second); code != 0 {
				t.Errorf("replica %s exited %d after SIGTERM, want 0", leader, code)
			}
		case syscall.SIGKILL:
			if took > ttl+4*time.Second {
				t.Errorf("failover after a crash took %s, want about TTL + 1 s (TTL %s)", took, ttl)
			}
		}
		// The stopped replica comes back, as its Deployment would restart it, under a new name.
		generation++
		name := fmt.Sprintf("%s-%d", leader, generation)
		delete(replicas, leader)
		replicas[name] = startReplica(t, c, name, electionURL, ttl)
		leader = next
	}
	waitMirroredBy(t, c, leader)
	if got := leaderFromCLI(t, electionURL); got != leader {
		t.Errorf("the store's own client reads the leader as %q, want %q", got, leader)
	}
	cancel()
	<-writing
	if terms := rec.checkNoOverlap(t); terms < 4 {
		t.Errorf("only %d terms wrote the ConfigMap, want at least 4", terms)
	}
}

// waitMirroredBy waits until the ConfigMap was last written by leader, which proves the leader
// acts: with the KV store changing under it (a writer, or a fresh mirror), only a replica that
// runs the controllers writes.
func waitMirroredBy(t *testing.T, c *cluster, leader string) {
	t.Helper()
	eventually(t, 60*time.Second, "ConfigMap written by "+leader, func() bool {
		cm, err := c.configMap(t.Context())
		return err == nil && cm != nil && cm.Annotations[v1alpha1.AnnotationLeader] == leader
	})
}

// leaderFromCLI reads the lock key with the store's own command-line client, exactly as the
// README tells operators to find out who leads.
func leaderFromCLI(t *testing.T, storeURL string) string {
	t.Helper()
	scheme, endpoint, _ := strings.Cut(storeURL, "://")
	var cmd *exec.Cmd
	switch scheme {
	case "etcd":
		etcdctl := filepath.Join(filepath.Dir(testserver.EtcdBinary()), "etcdctl")
		cmd = exec.Command(etcdctl, "--endpoints="+endpoint, "get", "--print-value-only", "/kvmirror/leader")
	case "consul":
		cmd = exec.Command(testserver.ConsulBinary(), "kv", "get", "-http-addr="+endpoint, "kvmirror/leader")
	default:
		t.Fatalf("no command-line client for %s", scheme)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return strings.TrimSpace(string(out))
}
