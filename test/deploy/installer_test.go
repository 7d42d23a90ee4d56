package deploy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/kvmirror/kvmirror/internal/testcluster"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// What config/default is expected to produce. The names follow from namePrefix kvmirror- and
// namespace kvmirror-system; users and other manifests (a ServiceMonitor, a NetworkPolicy)
// depend on them, so a change here is a breaking change.
const (
	systemNamespace = "kvmirror-system"
	managerName     = "kvmirror-controller-manager" // the Deployment, its ServiceAccount and PDB
	managerRole     = "kvmirror-manager-role"
	managerBinding  = "kvmirror-manager-rolebinding"
	managerConfig   = "kvmirror-manager-config-" // generated: a content hash follows
	metricsService  = "kvmirror-controller-manager-metrics-service"
	// testImage is what the tests pass as IMG, to see it replace config/manager's placeholder.
	testImage   = "registry.example/kvmirror:deploy-test"
	placeholder = "controller:latest"
)

// shared holds what several tests use and is built once: the installer rendered by
// `make build-installer` and its objects.
var shared struct {
	once      sync.Once
	dir       string
	installer string
	objects   []*unstructured.Unstructured
	err       error
}

func removeShared() {
	for _, dir := range []string{shared.dir, manager.dir} {
		if dir != "" {
			_ = os.RemoveAll(dir)
		}
	}
}

// installer returns the path of the installer `make build-installer IMG=testImage` writes, and
// its objects in file order.
func installer(t *testing.T) (string, []*unstructured.Unstructured) {
	t.Helper()
	kubectl, mk := tool(t, "kubectl"), tool(t, "make")
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "kvmirror-deploy-"); shared.err != nil {
			return
		}
		shared.installer = filepath.Join(shared.dir, "dist", "install.yaml")
		var out []byte
		out, shared.err = runMake(mk, kubectl, nil, "build-installer", "INSTALLER="+shared.installer)
		if shared.err != nil {
			shared.err = fmt.Errorf("make build-installer: %w\n%s", shared.err, out)
			return
		}
		shared.objects, shared.err = readObjects(shared.installer)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.installer, shared.objects
}

// runMake runs a target of kvmirror's Makefile with IMG=testImage and the given kubectl.
//
// `-o manifests` keeps make from running controller-gen first, as the deploy targets do: a test
// must not rewrite the checkout, and the generated files are what is under test.
// The environment is the test's, without what an outer `make test` exports to its children, so
// that the target behaves the same under `make test` and under `go test`.
func runMake(mk, kubectl string, env []string, target string, vars ...string) ([]byte, error) {
	args := append([]string{"-C", moduleRoot(), "-o", "manifests", target, "IMG=" + testImage, "KUBECTL=" + kubectl}, vars...)
	cmd := exec.Command(mk, args...)
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES":
		default:
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	return cmd.CombinedOutput()
}

// moduleRoot is the checkout's root.
func moduleRoot() string {
	root, err := testcluster.ModuleRoot()
	if err != nil {
		panic(err) // only when the working directory is gone: `go test` runs in test/deploy
	}
	return root
}

// tool finds a command the tests run: kubectl through testcluster.Kubectl (the one matching the
// API server), anything else on PATH. A missing tool stops the test as a missing server does.
func tool(t *testing.T, name string) string {
	t.Helper()
	if name == "kubectl" {
		return testcluster.Kubectl(t)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		testserver.RequireBinaries(t, name, name)
	}
	return p
}

// readObjects decodes every YAML document of a file, skipping empty ones.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeObjects(data)
}

func decodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(m) != 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

// render returns the objects `kubectl kustomize dir` renders, dir relative to the checkout.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	out, err := exec.CommandContext(t.Context(), tool(t, "kubectl"), "kustomize", filepath.Join(moduleRoot(), dir)).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, stderrOf(err))
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	return objs
}

func stderrOf(err error) error {
	var exit *exec.ExitError
	if errors.As(err, &exit) && len(exit.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, exit.Stderr)
	}
	return err
}

// find returns the one object of the kind whose name starts with name (for generated names),
// converted into out.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string, out any) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && strings.HasPrefix(o.GetName(), name) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s named %s*, found %d", kind, name, len(found))
	}
	if out != nil {
		// Unknown fields are dropped here, so a misspelt field reads as unset and fails the
		// assertion that looks for it.
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(found[0].Object, out); err != nil {
			t.Fatalf("%s %s: %v", kind, name, err)
		}
	}
	return found[0]
}
