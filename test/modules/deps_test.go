// Package modules checks the dependency rules of kvmirror's module layout: the kvstore library,
// its backends, its conformance suite and its test servers never pull in Kubernetes or any
// package of the operator, so that library users do not inherit them.
package modules

import (
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// kvstoreDir is the kvstore folder of this checkout, found from this file's path.
func kvstoreDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate this test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "kvstore")
}

// goList runs `go list` with args in dir and returns its output lines.
func goList(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Fields(string(out))
}

// TestKvstoreWithoutKubernetes: nothing that any kvstore package or its tests link comes from
// Kubernetes (k8s.io, sigs.k8s.io).
func TestKvstoreWithoutKubernetes(t *testing.T) {
	t.Parallel()
	deps := goList(t, kvstoreDir(t), "-test", "-deps", "-f", "{{.ImportPath}}", "./...")
	if len(deps) < 50 {
		t.Fatalf("go list found only %d packages below kvstore: the check would prove nothing", len(deps))
	}
	for _, p := range deps {
		if strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/") {
			t.Errorf("a kvstore package or its tests depends on %s", p)
		}
	}
}

// TestKvstoreSelfContained: no kvstore package, test included, imports a kvmirror package from
// outside kvstore/ (the operator's internal packages, controllers, the API types).
func TestKvstoreSelfContained(t *testing.T) {
	t.Parallel()
	const module = "github.com/kvmirror/kvmirror/"
	lines := goList(t, kvstoreDir(t), "-test", "-deps", "-f", "{{.ImportPath}}", "./...")
	seen := 0
	for _, p := range lines {
		if !strings.HasPrefix(p, module) {
			continue
		}
		seen++
		if !strings.HasPrefix(p, module+"kvstore") {
			t.Errorf("a kvstore package or its tests depends on %s, outside kvstore/", p)
		}
	}
	if seen == 0 {
		t.Fatal("go list reported no kvmirror package below kvstore: the check would prove nothing")
	}
}

// TestKvstoreModule: kvstore is a Go module of its own, so that a program that imports it does
// not require the operator's modules. Its module graph holds no Kubernetes module except
// sigs.k8s.io/yaml, a YAML helper that etcd's own client/v3 go.mod requires (every etcd v3
// client user has it in the graph; no kvstore package links it, as TestKvstoreWithoutKubernetes
// shows), and never the operator's module.
func TestKvstoreModule(t *testing.T) {
	t.Parallel()
	dir := kvstoreDir(t)
	if got := goList(t, dir, "-m"); len(got) != 1 || got[0] != "github.com/kvmirror/kvmirror/kvstore" {
		t.Fatalf("the module of kvstore/ is %v, want github.com/kvmirror/kvmirror/kvstore alone", got)
	}
	mods := goList(t, dir, "-m", "-f", "{{.Path}}", "all")
	if len(mods) < 10 {
		t.Fatalf("go list -m all found only %d modules: the check would prove nothing", len(mods))
	}
	for _, m := range mods {
		switch {
		case m == "github.com/kvmirror/kvmirror":
			t.Errorf("the kvstore module requires the operator's module")
		case m == "sigs.k8s.io/yaml":
		case strings.HasPrefix(m, "k8s.io/"), strings.HasPrefix(m, "sigs.k8s.io/"):
			t.Errorf("the kvstore module graph holds %s", m)
		}
	}
}
