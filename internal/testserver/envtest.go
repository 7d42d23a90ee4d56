package testserver

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Envtest starts a Kubernetes control plane (kube-apiserver 1.37 and etcd, through
// controller-runtime's envtest) for the test, with the CRDs in config/crd/bases installed if that
// folder exists, and returns a client configuration with cluster-admin rights. The control plane
// stops when the test ends.
func Envtest(t testing.TB) *rest.Config {
	t.Helper()
	return EnvtestEnvironment(t).Config
}

// EnvtestEnvironment is Envtest for tests that need more than a client configuration: the
// environment's ControlPlane can stop and restart the API server, add users or write a
// kubeconfig for kubectl, and its KubeConfig field holds an admin kubeconfig.
//
// The binaries come from $KUBEBUILDER_ASSETS when it is set, otherwise from EnvtestAssets.
func EnvtestEnvironment(t testing.TB) *envtest.Environment {
	t.Helper()
	env := &envtest.Environment{ErrorIfCRDPathMissing: false}
	assets := os.Getenv(kubeAssetsEnv)
	if assets == "" {
		assets = EnvtestAssets()
		env.BinaryAssetsDirectory = assets
	}
	RequireBinaries(t, "envtest (kube-apiserver "+KubeVersion+", etcd)",
		filepath.Join(assets, "kube-apiserver"), filepath.Join(assets, "etcd"))
	if root, err := moduleRoot(); err == nil {
		if dir := filepath.Join(root, "config", "crd", "bases"); isDir(dir) {
			env.CRDDirectoryPaths = []string{dir}
		}
	}
	if _, err := env.Start(); err != nil {
		t.Fatalf("testserver: envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("testserver: stopping envtest: %v", err)
		}
	})
	return env
}

// moduleRoot finds the kvmirror checkout from the working directory, which `go test` sets to
// the package's folder.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// KubeconfigFile writes env's admin kubeconfig to a file for the test, for kubectl or a
// process started by the test, and returns its path.
func KubeconfigFile(t testing.TB, env *envtest.Environment) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	writeFile(t, path, env.KubeConfig)
	return path
}
