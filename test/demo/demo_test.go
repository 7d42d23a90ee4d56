// Package demo_test runs `make demo`'s program (hack/demo) the way `DEMO_ONCE=1 make demo` does,
// against the real servers, and checks that every step of the script was observed and that
// nothing it started outlives it.
package demo_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kvmirror/kvmirror/internal/testcluster"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// demoTimeout bounds one run of the demo. A run takes 10-30 s on an idle machine; the bound
// leaves room for a 2-core machine shared with builds and other tests, where the control plane
// alone can take a minute to start.
const demoTimeout = 6 * time.Minute

// TestDemoOnce runs the whole script and checks each step's success line: the ConfigMap holds
// the written keys, follows an update and a delete, a new leader is elected after SIGTERM to the
// old one, and the new leader mirrors a write.
func TestDemoOnce(t *testing.T) {
	requireServers(t)
	bin := t.TempDir()
	manager, demo := build(t, bin, "manager", "./cmd/manager"), build(t, bin, "demo", "./hack/demo")
	work := filepath.Join(t.TempDir(), "work")

	out, err := runDemo(t, demo, "--dir", work, "--manager", manager)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	t.Logf("demo output:\n%s", out)
	for _, line := range []string{
		`ok 1: API server https://127\.0\.0\.1:\d+/? up in`,
		`ok 2: etcd serving at 127\.0\.0\.1:\d+`,
		`ok 3: CRD kvmirrors\.kvmirror\.io established`,
		`ok 4: replica-a and replica-b ready; replica-[ab] leads`,
		`ok 5: KVMirror default/demo-app created`,
		`ok 6: ConfigMap demo-app holds the 3 keys under demo/app/`,
		`ok 7: demo-app: Ready=True \(Synced\), 3 keys`,
		`ok 8: ConfigMap followed: db\.host updated, feature\.flags removed`,
		`ok 9: replica-[ab] leads now, elected [0-9.]+m?s after SIGTERM to replica-[ab]`,
		`ok 10: replica-[ab] mirrored demo/app/handover/leader into the ConfigMap`,
		`all 10 steps observed`,
		`everything the demo started has stopped`,
	} {
		if !regexp.MustCompile(`(?m)` + line).Match(out) {
			t.Errorf("the output has no line matching %q", line)
		}
	}
	if bytes.Contains(out, []byte("FAILED")) {
		t.Errorf("the output reports a failed step")
	}
	// The new leader must be the replica that was not stopped.
	if m := regexp.MustCompile(`ok 9: (replica-[ab]) leads now, .* to (replica-[ab])`).FindSubmatch(out); m != nil && string(m[1]) == string(m[2]) {
		t.Errorf("%s was stopped and is reported as the new leader", m[1])
	}
	checkNothingLeft(t, work)
}

// TestDemoOnceFailsNamingTheStep gives the demo a manager that cannot start: the run must exit
// non-zero and name the step that failed, and still stop the servers it started.
func TestDemoOnceFailsNamingTheStep(t *testing.T) {
	requireServers(t)
	bin := t.TempDir()
	demo := build(t, bin, "demo", "./hack/demo")
	broken := filepath.Join(bin, "broken-manager")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\necho 'this manager cannot start' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(t.TempDir(), "work")

	out, err := runDemo(t, demo, "--dir", work, "--manager", broken)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("demo with a broken manager: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"ok 3:", "FAILED 4 (Start two manager replicas)", "this manager cannot start", "control plane stopped"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	checkNothingLeft(t, work)
}

// requireServers stops the test when the control plane's binaries are missing: a failure where
// servers are required, a loud skip otherwise (testserver's rule).
func requireServers(t *testing.T) {
	t.Helper()
	assets := testcluster.Assets()
	testserver.RequireBinaries(t, "the demo's control plane",
		filepath.Join(assets, "kube-apiserver"), filepath.Join(assets, "etcd"))
	testcluster.Kubectl(t)
}

// build compiles a package of the module into dir and returns the binary's path.
func build(t *testing.T, dir, name, pkg string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = moduleRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// runDemo runs the demo from the module root in once mode, as `DEMO_ONCE=1 make demo` does.
// Should the run hang past demoTimeout, it is interrupted like a person's Ctrl-C, so that it
// still stops its servers, and killed a minute later.
func runDemo(t *testing.T, demo string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), demoTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, demo, args...)
	cmd.Dir = moduleRoot(t)
	cmd.Env = append(os.Environ(), "DEMO_ONCE=1")
	cmd.SysProcAttr = testserver.SysProcAttr() // the demo dies with the test, and its servers with it
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	started := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("the demo ran for %s", time.Since(started).Round(time.Millisecond))
	return out, err
}

// moduleRoot is the checkout's root, where the demo runs as `make demo` runs it.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := testcluster.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}
