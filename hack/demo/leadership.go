package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kvmirror/kvmirror/kvstore/leadership"
)

// replica returns the running replica of that identity, or nil.
func (d *demo) replica(identity string) *replica {
	for _, r := range d.replicas {
		if r.identity == identity && r.running() {
			return r
		}
	}
	return nil
}

// waitLeader waits until the lock key names a running replica other than not, and returns it.
func (d *demo) waitLeader(ctx context.Context, not string) (string, error) {
	follower := leadership.NewFollower(d.kv.store, leaderKey)
	var leader string
	err := poll(ctx, d.cfg.wait, "a replica to hold the lock "+leaderKey, func(ctx context.Context) error {
		var err error
		if leader, err = follower.Leader(ctx); err != nil {
			return err
		}
		if leader == "" || leader == not || d.replica(leader) == nil {
			return fmt.Errorf("lock key holds %q", leader)
		}
		return nil
	})
	return leader, err
}

func (d *demo) handOver(ctx context.Context) (string, error) {
	follower := leadership.NewFollower(d.kv.store, leaderKey)
	old, err := follower.Leader(ctx)
	if err != nil {
		return "", err
	}
	r := d.replica(old)
	if r == nil {
		return "", fmt.Errorf("the lock key names %q, which is not a running replica", old)
	}
	// Follow the lock key from before the signal, so that the hand-over is timed from the watch
	// event, not from a poll.
	followCtx, unfollow := context.WithCancel(ctx)
	leaders := follower.Follow(followCtx)
	defer func() {
		unfollow()
		for range leaders { // until the follower's goroutine has ended
		}
	}()
	if _, err := nextLeader(leaders, d.cfg.wait); err != nil {
		return "", err
	}
	d.out.info("%s leads; sending it SIGTERM (pid %d), as Kubernetes does when it stops a pod", old, r.pid())
	sent := time.Now()
	if err := r.terminate(); err != nil {
		return "", err
	}
	seen, err := awaitNewLeader(leaders, old, d.cfg.wait)
	d.out.info("lock key %s: %s", leaderKey, strings.Join(seen, " -> "))
	if err != nil {
		return "", err
	}
	d.timings.handOver = time.Since(sent)
	newLeader := seen[len(seen)-1]
	status, err := r.waitExit(ctx, d.cfg.wait)
	if err != nil {
		return "", err
	}
	d.timings.oldLeaderExit = r.proc.ExitedAt().Sub(sent)
	d.out.info("%s stopped its controllers, released the lock and exited (%s) %s after SIGTERM", old, status, seconds(d.timings.oldLeaderExit))
	if d.replica(newLeader) == nil {
		return "", fmt.Errorf("the lock key names %q, which is not a running replica", newLeader)
	}
	return fmt.Sprintf("%s leads now, elected %s after SIGTERM to %s", newLeader, seconds(d.timings.handOver), old), nil
}

// nextLeader returns the next value the follower reports.
func nextLeader(leaders <-chan string, wait time.Duration) (string, error) {
	select {
	case l, ok := <-leaders:
		if !ok {
			return "", errors.New("the follower of the lock key stopped")
		}
		return l, nil
	case <-time.After(wait):
		return "", fmt.Errorf("no news from the lock key %s in %s", leaderKey, seconds(wait))
	}
}

// awaitNewLeader reads the follower until someone other than old holds the lock, and returns
// every holder seen, old first ("nobody" while the lock was free).
func awaitNewLeader(leaders <-chan string, old string, wait time.Duration) ([]string, error) {
	seen := []string{old}
	deadline := time.Now().Add(wait)
	for {
		l, err := nextLeader(leaders, time.Until(deadline))
		if err != nil {
			return seen, err
		}
		if l == "" {
			l = "nobody"
		}
		if l != seen[len(seen)-1] {
			seen = append(seen, l)
		}
		if l != "nobody" && l != old {
			return seen, nil
		}
	}
}

func (d *demo) writeAfterHandOver(ctx context.Context) (string, error) {
	leader, err := d.waitLeader(ctx, "")
	if err != nil {
		return "", err
	}
	key := prefix + "/handover/leader"
	written := time.Now()
	if err := d.put(ctx, key, leader); err != nil {
		return "", err
	}
	d.want["handover.leader"] = leader
	took, got, err := d.waitMirrored(ctx, d.want, written)
	if err != nil {
		return "", err
	}
	d.timings.afterHandOver = took
	d.out.data(mirrorName, got)
	return fmt.Sprintf("%s mirrored %s into the ConfigMap %s after the write", leader, key, seconds(took)), nil
}

// keepPlaying brings the stopped replica back as a follower, says how to play with the demo,
// and reports each change of leader until ctx ends (Ctrl-C).
func (d *demo) keepPlaying(ctx context.Context) error {
	d.out.section("Keep playing")
	if err := d.restartStopped(ctx); err != nil {
		return err
	}
	d.instructions()
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		d.reportLeaders(ctx)
	}()
	<-ctx.Done()
	<-reported
	d.out.info("Ctrl-C: stopping")
	return nil
}

func (d *demo) restartStopped(ctx context.Context) error {
	args := replicaArgs{manager: d.manager, kubeconfig: d.cluster.kubeconfig, store: d.kv.endpoint(), logDir: filepath.Join(d.dir, "logs")}
	for i, r := range d.replicas {
		if r.running() {
			continue
		}
		again, err := startReplica(ctx, args, r.identity, d.cfg.wait)
		if err != nil {
			return err
		}
		d.replicas[i] = again
		d.out.info("%s started again (pid %d): it follows, ready to take over", again.identity, again.pid())
	}
	return nil
}

func (d *demo) instructions() {
	kubectl := "kubectl --kubeconfig " + d.rel(d.cluster.kubeconfig)
	dirFlag := ""
	if d.cfg.dir != ".demo" {
		dirFlag = " --dir " + d.cfg.dir
	}
	d.out.info("Everything keeps running until Ctrl-C. In another terminal, from %s:", d.root)
	var b strings.Builder
	fmt.Fprintf(&b, "%s get kvmirrors,configmaps\n", kubectl)
	fmt.Fprintf(&b, "%s get configmap %s -o yaml --watch\n", kubectl, mirrorName)
	fmt.Fprintf(&b, "go run ./hack/demo put%s %s/greeting hello      # write a key to the demo's etcd\n", dirFlag, prefix)
	fmt.Fprintf(&b, "go run ./hack/demo delete%s %s/greeting\n", dirFlag, prefix)
	for _, r := range d.replicas {
		fmt.Fprintf(&b, "kill %d    # SIGTERM %s: if it leads, the other takes over (reported below)\n", r.pid(), r.identity)
	}
	fmt.Fprintf(&b, "kill -9 PID   # a crash instead: the other takes over once the lock's TTL (5s by default) runs out\n")
	d.out.block(b.String())
	d.out.info("kubeconfig: %s", d.cluster.kubeconfig)
	d.out.info("etcd endpoint: %s (e.g. etcdctl --endpoints %s get --prefix %s/)", d.kv.endpoint(), d.kv.endpoint(), prefix)
	d.out.info("replica logs: %s", d.rel(filepath.Join(d.dir, "logs")))
}

// reportLeaders prints each change of the lock's holder until ctx ends.
func (d *demo) reportLeaders(ctx context.Context) {
	leaders := leadership.NewFollower(d.kv.store, leaderKey).Follow(ctx)
	first := true
	for l := range leaders {
		switch {
		case first:
			d.out.info("%s leads", l)
			first = false
		case l == "":
			d.out.info("%s: nobody holds the lock", time.Now().Format(time.TimeOnly))
		default:
			d.out.info("%s: %s leads now", time.Now().Format(time.TimeOnly), l)
		}
	}
}
