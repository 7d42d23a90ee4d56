package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/internal/testcluster"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// controlPlaneTimeout bounds the start and the stop of the control plane. kube-apiserver
// usually serves within 10 s, but on a 2-core machine shared with builds and tests it can take
// several times that.
const controlPlaneTimeout = 3 * time.Minute

// cluster is the local Kubernetes control plane: envtest's kube-apiserver and etcd, run from the
// binaries `make test-deps` builds.
type cluster struct {
	env        *envtest.Environment
	kubeconfig string
	client     client.Client
	logs       []io.Closer
}

// checkServers tells a newcomer what to run when a binary the demo needs is missing.
func checkServers(assets, kubectl string) error {
	var missing []string
	for _, p := range []string{filepath.Join(assets, "kube-apiserver"), filepath.Join(assets, "etcd"), kubectl} {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%v missing: run `make test-deps` (or `make demo`, which runs it)", missing)
	}
	return nil
}

// findKubectl prefers the kubectl that `make test-deps` links beside the servers, then PATH's.
func findKubectl(assets string) string {
	p := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	return p
}

// startCluster starts the control plane with its data, certificates and logs below dir, and
// writes an admin kubeconfig to dir/kubeconfig. It is not interruptible: envtest's Start takes
// no context, and is bounded by controlPlaneTimeout.
func startCluster(dir, assets, kubectl string) (*cluster, error) {
	apiServerPath, etcdPath, err := serverPaths(assets, filepath.Join(dir, "bin"))
	if err != nil {
		return nil, fmt.Errorf("prepare the servers: %w", err)
	}
	c := &cluster{kubeconfig: filepath.Join(dir, "kubeconfig")}
	apiLog, err := c.logFile(dir, "kube-apiserver.log")
	if err != nil {
		return nil, err
	}
	etcdLog, err := c.logFile(dir, "kube-etcd.log")
	if err != nil {
		return nil, err
	}
	useExisting := false
	c.env = &envtest.Environment{
		// Never a cluster from the person's own kubeconfig, even with USE_EXISTING_CLUSTER set.
		UseExistingCluster:       &useExisting,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: controlPlaneTimeout,
		ControlPlaneStopTimeout:  controlPlaneTimeout,
	}
	c.env.ControlPlane.APIServer = &envtest.APIServer{Path: apiServerPath, CertDir: filepath.Join(dir, "kube", "certs"), Out: apiLog, Err: apiLog}
	c.env.ControlPlane.Etcd = &envtest.Etcd{Path: etcdPath, DataDir: filepath.Join(dir, "kube", "etcd"), Out: etcdLog, Err: etcdLog}
	c.env.ControlPlane.KubectlPath = kubectl
	if err := c.start(); err != nil {
		return nil, errors.Join(err, c.stop())
	}
	return c, nil
}

func (c *cluster) start() error {
	for _, sub := range []string{"certs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(filepath.Dir(c.kubeconfig), "kube", sub), 0o700); err != nil {
			return err
		}
	}
	cfg, err := c.env.Start()
	if err != nil {
		return fmt.Errorf("envtest: %w (logs: %s)", err, filepath.Join(filepath.Dir(c.kubeconfig), "logs"))
	}
	if err := os.WriteFile(c.kubeconfig, c.env.KubeConfig, 0o600); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), v1alpha1.AddToScheme(scheme)); err != nil {
		return err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = rest.NoWarnings{}
	c.client, err = client.New(cfg, client.Options{Scheme: scheme})
	return err
}

func (c *cluster) logFile(dir, name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "logs", name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err == nil {
		c.logs = append(c.logs, f)
	}
	return f, err
}

// host is the API server's address, as the kubeconfig names it.
func (c *cluster) host() string { return c.env.Config.Host }

func (c *cluster) stop() error {
	var err error
	if c.env != nil {
		err = c.env.Stop()
	}
	for _, l := range c.logs {
		_ = l.Close()
	}
	return err
}

// envtestVersions describes the servers for the step's explanation.
func envtestVersions() string {
	return fmt.Sprintf("kube-apiserver %s and etcd %s", testcluster.KubeVersion, testserver.EtcdVersion)
}
