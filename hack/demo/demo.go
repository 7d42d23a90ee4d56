package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kvmirror/kvmirror/internal/testcluster"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// demo holds what the script starts, so that shutdown can stop all of it.
type demo struct {
	cfg         *config
	root        string // the module root: kubectl runs there, paths are shown relative to it
	dir         string // the work folder, absolute
	manager     string // the manager binary, absolute
	assets      string
	kubectlPath string
	out         *printer
	lock        *os.File

	cluster  *cluster
	kv       *kvServer
	replicas []*replica
	// want is what the ConfigMap should hold at this point of the script.
	want    map[string]string
	timings timings
}

// timings are what the demo measured, for its closing summary.
type timings struct {
	began time.Time
	// total is the whole script; controlPlane the start of the API server.
	total, controlPlane time.Duration
	// How long the ConfigMap took to follow the writes of steps 6, 8 and 10.
	firstMirror, update, afterHandOver time.Duration
	// From SIGTERM to the old leader: the new leader's election, and the old one's exit.
	handOver, oldLeaderExit time.Duration
}

// workFiles are what a demo leaves in its work folder. Only these are removed before a run: the
// folder may be one a person named with --dir.
var workFiles = []string{"kv", "kube", "bin", "logs", "kubeconfig", "kvmirror.yaml", endpointFile}

func newDemo(cfg *config) (*demo, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	d := &demo{cfg: cfg, root: root, out: &printer{w: os.Stdout}, assets: testcluster.Assets()}
	d.dir, d.manager = d.abs(cfg.dir), d.abs(cfg.manager)
	d.kubectlPath = findKubectl(d.assets)
	if err := checkServers(d.assets, d.kubectlPath); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(d.manager); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("manager binary %s missing: run `make demo`, or `go build -o bin/manager ./cmd/manager` first", d.rel(d.manager))
	}
	if err := d.prepareDir(); err != nil {
		return nil, err
	}
	return d, nil
}

// prepareDir takes the work folder for this run and clears what an earlier run left.
func (d *demo) prepareDir() error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(d.dir, "demo.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	// Two demos on one folder would wipe each other's servers' data; a second one is refused.
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = lock.Close()
		return fmt.Errorf("another demo is running with the work folder %s (stop it, or pass --dir)", d.rel(d.dir))
	}
	d.lock = lock
	for _, name := range workFiles {
		if err := os.RemoveAll(filepath.Join(d.dir, name)); err != nil {
			return err
		}
	}
	return os.MkdirAll(filepath.Join(d.dir, "logs"), 0o755)
}

func (d *demo) unlock() {
	if d.lock != nil {
		_ = d.lock.Close()
	}
}

func (d *demo) abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(d.root, path)
}

// rel shows a path under the module root relative to it: shorter, and what a person types there.
func (d *demo) rel(path string) string {
	if r, err := filepath.Rel(d.root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// kubectl runs kubectl against the demo's cluster from the module root, showing the command and
// its output as a person would see them.
func (d *demo) kubectl(ctx context.Context, args ...string) (string, error) {
	verb := args[0]
	args = append([]string{"--kubeconfig", d.rel(d.cluster.kubeconfig)}, args...)
	d.out.command("kubectl", args...)
	ctx, cancel := context.WithTimeout(ctx, d.cfg.wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.kubectlPath, args...)
	cmd.Dir = d.root
	cmd.SysProcAttr = testserver.SysProcAttr()
	out, err := cmd.CombinedOutput()
	d.out.block(string(out))
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w", verb, err)
	}
	return string(out), nil
}

// shutdown stops everything the demo started, in the order that lets each part stop cleanly:
// the managers first (they release the lock and close their watches while etcd and the API
// server still answer), then the control plane, then the embedded etcd.
func (d *demo) shutdown() {
	d.out.section("Stopping")
	var wg sync.WaitGroup
	for _, r := range d.replicas {
		if r.running() {
			wg.Go(r.stop)
		}
	}
	wg.Wait()
	if len(d.replicas) > 0 {
		d.out.info("manager replicas stopped")
	}
	var errs []error
	if d.cluster != nil {
		if err := d.cluster.stop(); err != nil {
			errs = append(errs, fmt.Errorf("control plane: %w", err))
		} else {
			d.out.info("control plane stopped")
		}
	}
	if d.kv != nil {
		d.kv.close()
		_ = os.Remove(filepath.Join(d.dir, endpointFile))
		d.out.info("embedded etcd stopped")
	}
	if err := errors.Join(errs...); err != nil {
		d.out.info("while stopping: %v", err)
		return
	}
	d.out.info("everything the demo started has stopped; logs stay in %s", d.rel(filepath.Join(d.dir, "logs")))
}
