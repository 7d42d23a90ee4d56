package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

const (
	// replicaStartAttempts: the metrics and probe ports are picked free but can be taken before the
	// manager binds them; a manager that fails to start for that reason is retried on new ports.
	replicaStartAttempts = 3
	// replicaStopTimeout is how long a replica has to stop after SIGTERM before it is killed. A
	// manager stops its controllers, releases the lock and exits within a second or two.
	replicaStopTimeout = 30 * time.Second
	// logTailLines is how much of a replica's log a failure prints.
	logTailLines = 15
)

// replica is one manager process.
type replica struct {
	identity  string
	args      []string
	logPath   string
	probeAddr string
	proc      *testserver.Process
}

// replicaArgs are the manager flags the demo passes, apart from the ports.
type replicaArgs struct {
	manager, kubeconfig, store, logDir string
}

// startReplica starts a manager that campaigns for leadership on the demo's etcd as identity,
// and waits until it serves its readiness probe.
func startReplica(ctx context.Context, a replicaArgs, identity string, wait time.Duration) (*replica, error) {
	for attempt := 1; ; attempt++ {
		r, err := launchReplica(a, identity)
		if err != nil {
			return nil, err
		}
		err = r.waitReady(ctx, wait)
		if err == nil {
			return r, nil
		}
		r.stop()
		if attempt == replicaStartAttempts || ctx.Err() != nil || !strings.Contains(r.logTail(), "address already in use") {
			return nil, err
		}
	}
}

func launchReplica(a replicaArgs, identity string) (*replica, error) {
	ports, err := testserver.FreePorts(2)
	if err != nil {
		return nil, err
	}
	r := &replica{
		identity:  identity,
		logPath:   filepath.Join(a.logDir, identity+".log"),
		probeAddr: testserver.Loopback(ports[1]),
	}
	r.args = []string{
		"--kubeconfig=" + a.kubeconfig,
		"--leader-elect-store=etcd://" + a.store,
		"--leader-elect-identity=" + identity,
		"--metrics-bind-address=" + testserver.Loopback(ports[0]),
		"--health-probe-bind-address=" + r.probeAddr,
	}
	// Appended: a replica started again in interactive mode keeps its earlier life in the log.
	if r.proc, err = testserver.StartProcess(exec.Command(a.manager, r.args...), r.logPath); err != nil {
		return nil, fmt.Errorf("start %s: %w", a.manager, err)
	}
	return r, nil
}

// waitReady polls the manager's /readyz until it answers 200, the process exits, or wait ends.
func (r *replica) waitReady(ctx context.Context, wait time.Duration) error {
	url := "http://" + r.probeAddr + "/readyz"
	return poll(ctx, wait, r.identity+" ready ("+url+")", func(ctx context.Context) error {
		if !r.running() {
			return stopPolling(fmt.Errorf("%s exited at start (%w); end of %s:\n%s", r.identity, r.proc.ExitErr(), r.logPath, r.logTail()))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz answered %s", resp.Status)
		}
		return nil
	})
}

func (r *replica) pid() int { return r.proc.Pid() }

func (r *replica) running() bool { return r.proc.Running() }

// terminate asks the manager to stop: it stops its controllers, releases the lock, and exits.
func (r *replica) terminate() error { return r.proc.Signal(syscall.SIGTERM) }

// waitExit waits for the process to end and says how it ended.
func (r *replica) waitExit(ctx context.Context, wait time.Duration) (string, error) {
	select {
	case <-r.proc.Done():
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(wait):
		return "", fmt.Errorf("%s still running %s after SIGTERM", r.identity, seconds(wait))
	}
	if err := r.proc.ExitErr(); err != nil {
		return "", fmt.Errorf("%s exited with %w; end of %s:\n%s", r.identity, err, r.logPath, r.logTail())
	}
	return "exit status 0", nil
}

// stop ends the replica: SIGTERM, then SIGKILL if it has not exited after replicaStopTimeout.
func (r *replica) stop() { r.proc.Stop(replicaStopTimeout) }

// logTail returns the last lines this run of the replica wrote to its log, indented, for an
// error message.
func (r *replica) logTail() string {
	tail, err := r.proc.LogTail(logTailLines)
	if err != nil {
		return outputIndent + err.Error()
	}
	return outputIndent + strings.ReplaceAll(tail, "\n", "\n"+outputIndent)
}
