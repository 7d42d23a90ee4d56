package testcluster

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// KubeVersion is the Kubernetes release whose kube-apiserver and kubectl hack/test-deps.sh
// builds into the cache. It must match that script: the folder name below is derived from it.
const KubeVersion = "1.37.2"

// kubeAssetsEnv names the folder envtest takes its binaries from when set.
const kubeAssetsEnv = "KUBEBUILDER_ASSETS"

// Assets is the folder holding kube-apiserver, etcd and kubectl for envtest, in the cache that
// testserver.BinDir names.
func Assets() string { return filepath.Join(testserver.BinDir(), "envtest-"+KubeVersion) }

// Start starts a Kubernetes control plane (kube-apiserver and etcd, through controller-runtime's
// envtest) for the test, with the CRDs in config/crd/bases installed if that folder exists, and
// returns a client configuration with cluster-admin rights. The control plane stops when the test
// ends.
func Start(t testing.TB) *rest.Config {
	t.Helper()
	return Environment(t).Config
}

// Environment is Start for tests that need more than a client configuration: the environment's
// ControlPlane can stop and restart the API server, add users or write a kubeconfig for kubectl,
// and its KubeConfig field holds an admin kubeconfig.
//
// The binaries come from $KUBEBUILDER_ASSETS when it is set, otherwise from Assets. A missing
// binary stops the test as testserver.RequireBinaries does.
func Environment(t testing.TB) *envtest.Environment {
	t.Helper()
	env := &envtest.Environment{ErrorIfCRDPathMissing: false}
	assets := os.Getenv(kubeAssetsEnv)
	if assets == "" {
		assets = Assets()
		env.BinaryAssetsDirectory = assets
	}
	testserver.RequireBinaries(t, "envtest (kube-apiserver "+KubeVersion+", etcd)",
		filepath.Join(assets, "kube-apiserver"), filepath.Join(assets, "etcd"))
	if root, err := ModuleRoot(); err == nil {
		env.CRDDirectoryPaths = []string{filepath.Join(root, crdDir)}
	}
	if _, err := env.Start(); err != nil {
		t.Fatalf("testcluster: envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("testcluster: stopping envtest: %v", err)
		}
	})
	return env
}

// KubeconfigFile writes env's admin kubeconfig to a file for the test, for kubectl or a
// process started by the test, and returns its path.
func KubeconfigFile(t testing.TB, env *envtest.Environment) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, env.KubeConfig, 0o600); err != nil {
		t.Fatalf("testcluster: %v", err)
	}
	return path
}

// Kubectl returns the kubectl that `make test-deps` links beside the envtest API server, or the
// one on PATH; a missing kubectl stops the test as testserver.RequireBinaries does.
func Kubectl(t testing.TB) string {
	t.Helper()
	linked := filepath.Join(Assets(), "kubectl")
	if testserver.MissingBinaries(linked) == nil {
		return linked
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	testserver.RequireBinaries(t, "kubectl", linked)
	return linked
}

// crdDir holds the CustomResourceDefinitions, relative to the module root.
const crdDir = "config/crd/bases"

// ModuleRoot finds the kvmirror checkout from the working directory (which `go test` sets to the
// package's folder): the nearest folder above it with a go.mod and config/crd/bases. A nested
// module's go.mod, which has no CRDs beside it, is passed over.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isFile(filepath.Join(dir, "go.mod")) && isDir(filepath.Join(dir, crdDir)) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the kvmirror checkout (no go.mod with " + crdDir + " above the working directory)")
		}
		dir = parent
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}
