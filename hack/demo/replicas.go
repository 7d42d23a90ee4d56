package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
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
	logStart  int64 // where this run's output begins in the log
	probeAddr string
	cmd       *exec.Cmd
	started   time.Time
	done      chan struct{} // closed once the process has been waited for
	exitErr   error         // the process's end, valid once done is closed
	exitedAt  time.Time     // valid once done is closed
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
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	r := &replica{
		identity:  identity,
		logPath:   filepath.Join(a.logDir, identity+".log"),
		probeAddr: loopback(ports[1]),
		done:      make(chan struct{}),
	}
	r.args = []string{
		"--kubeconfig=" + a.kubeconfig,
		"--leader-elect-store=etcd://" + a.store,
		"--leader-elect-identity=" + identity,
		"--metrics-bind-address=" + loopback(ports[0]),
		"--health-probe-bind-address=" + r.probeAddr,
	}
	// Appended: a replica started again in interactive mode keeps its earlier life in the log.
	log, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = log.Close() }() // the child has its own copy
	if r.logStart, err = log.Seek(0, io.SeekEnd); err != nil {
		return nil, err
	}
	r.cmd = exec.Command(a.manager, r.args...)
	r.cmd.Stdout, r.cmd.Stderr = log, log
	r.cmd.SysProcAttr = procAttr()
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", a.manager, err)
	}
	r.started = time.Now()
	go func() {
		r.exitErr = r.cmd.Wait()
		r.exitedAt = time.Now()
		close(r.done)
	}()
	return r, nil
}

// waitReady polls the manager's /readyz until it answers 200, the process exits, or wait ends.
func (r *replica) waitReady(ctx context.Context, wait time.Duration) error {
	url := "http://" + r.probeAddr + "/readyz"
	return poll(ctx, wait, r.identity+" ready ("+url+")", func(ctx context.Context) error {
		if !r.running() {
			return stopPolling(fmt.Errorf("%s exited at start (%w); end of %s:\n%s", r.identity, r.exitErr, r.logPath, r.logTail()))
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

func (r *replica) pid() int { return r.cmd.Process.Pid }

func (r *replica) running() bool {
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

// terminate asks the manager to stop: it stops its controllers, releases the lock, and exits.
func (r *replica) terminate() error { return r.cmd.Process.Signal(syscall.SIGTERM) }

// waitExit waits for the process to end and says how it ended.
func (r *replica) waitExit(ctx context.Context, wait time.Duration) (string, error) {
	select {
	case <-r.done:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(wait):
		return "", fmt.Errorf("%s still running %s after SIGTERM", r.identity, seconds(wait))
	}
	if r.exitErr != nil {
		return "", fmt.Errorf("%s exited with %w; end of %s:\n%s", r.identity, r.exitErr, r.logPath, r.logTail())
	}
	return "exit status 0", nil
}

// stop ends the replica: SIGTERM, then SIGKILL if it has not exited after replicaStopTimeout.
func (r *replica) stop() {
	if !r.running() {
		return
	}
	_ = r.terminate()
	select {
	case <-r.done:
	case <-time.After(replicaStopTimeout):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// logTail returns the last lines this run of the replica wrote to its log, indented, for an
// error message.
func (r *replica) logTail() string {
	data, err := os.ReadFile(r.logPath)
	if err != nil {
		return outputIndent + err.Error()
	}
	data = data[min(r.logStart, int64(len(data))):]
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-logTailLines):]
	return outputIndent + strings.Join(lines, "\n"+outputIndent)
}
