// Package manifests tests what users apply: the generated CRD, RBAC and deepcopy code must match
// the Go markers they come from, and the CRD must reject invalid KVMirrors at apply time with
// readable messages and print useful columns, as kubectl shows them.
package manifests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// controllerGenVersion is the version the Makefile pins; the generated files carry it.
const controllerGenVersion = "v0.23.0"

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// controllerGen returns the command that runs controller-gen at the pinned version: bin/
// controller-gen when `make controller-gen` installed it, else `go run` at that version (which
// builds it once into Go's cache), so that the test needs nothing done by hand.
func controllerGen(t *testing.T, root string, args ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(root, "bin", "controller-gen")
	if out, err := exec.Command(bin, "--version").Output(); err == nil && strings.Contains(string(out), controllerGenVersion) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = root
		return cmd
	}
	cmd := exec.Command("go", append([]string{"run", "sigs.k8s.io/controller-tools/cmd/controller-gen@" + controllerGenVersion}, args...)...)
	cmd.Dir = root
	return cmd
}

func run(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return out
}

// TestGeneratedFilesUpToDate regenerates the CRD, the RBAC role and the deepcopy code with the
// Makefile's arguments into a temporary folder and compares them with the committed files: a
// marker changed without `make manifests generate` fails here.
func TestGeneratedFilesUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs controller-gen over the module")
	}
	root := repoRoot(t)
	tmp := t.TempDir()
	crdDir, rbacDir := filepath.Join(tmp, "crd"), filepath.Join(tmp, "rbac")
	// The same generators and roleName as `make manifests`, with the outputs redirected.
	run(t, controllerGen(t, root, "rbac:roleName=manager-role", "crd", "webhook", "paths=./...",
		"output:crd:artifacts:config="+crdDir, "output:rbac:artifacts:config="+rbacDir))
	compareDirs(t, crdDir, filepath.Join(root, "config", "crd", "bases"), "make manifests")
	compareFile(t, filepath.Join(rbacDir, "role.yaml"), filepath.Join(root, "config", "rbac", "role.yaml"), "make manifests")

	// `make generate` writes next to the types; here the object generator prints instead.
	deepcopy := run(t, controllerGen(t, root, `object:headerFile=hack/boilerplate.go.txt`, "paths=./api/...", "output:object:stdout"))
	committed, err := os.ReadFile(filepath.Join(root, "api", "v1alpha1", "zz_generated.deepcopy.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(deepcopy, committed) {
		t.Errorf("api/v1alpha1/zz_generated.deepcopy.go is stale: run `make generate`")
	}
}

func compareDirs(t *testing.T, generated, committed, fix string) {
	t.Helper()
	want, err := os.ReadDir(generated)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadDir(committed)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, e := range have {
		if filepath.Ext(e.Name()) == ".yaml" {
			names[e.Name()] = true
		}
	}
	for _, e := range want {
		if !names[e.Name()] {
			t.Errorf("%s is missing from %s: run `%s`", e.Name(), committed, fix)
			continue
		}
		delete(names, e.Name())
		compareFile(t, filepath.Join(generated, e.Name()), filepath.Join(committed, e.Name()), fix)
	}
	for name := range names {
		t.Errorf("%s in %s is no longer generated: delete it, or run `%s`", name, committed, fix)
	}
}

func compareFile(t *testing.T, generated, committed, fix string) {
	t.Helper()
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile(committed)
	if err != nil {
		t.Fatalf("%v: run `%s`", err, fix)
	}
	if !bytes.Equal(want, have) {
		t.Errorf("%s is stale: run `%s`\n%s", committed, fix, firstDiff(string(want), string(have)))
	}
}

// firstDiff shows the first differing line, enough to see what changed.
func firstDiff(want, have string) string {
	w, h := strings.Split(want, "\n"), strings.Split(have, "\n")
	for i := range max(len(w), len(h)) {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(h) {
			b = h[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n  generated: " + a + "\n  committed: " + b
		}
	}
	return ""
}
