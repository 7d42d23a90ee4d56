package controllers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"go.uber.org/goleak"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/internal/testcluster"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// The suite runs one envtest API server and one real manager with the KVMirror controller for
// the whole package, started by the first test that needs it (unit tests run without it). Each
// test works in its own namespace with its own key prefix, so tests can run in parallel.
//
// Bounds: eventually is generous because the package's tests share two cores with an API
// server, etcd, Consul and a JVM; a healthy run meets it in well under a second.
const (
	eventually   = 60 * time.Second
	poll         = 100 * time.Millisecond
	consistently = 3 * time.Second
)

// Backoffs of the suite's controller: short, so that recovery tests do not wait a minute, yet
// long enough that a dead backend is not hammered.
const (
	testMinBackoff = 200 * time.Millisecond
	testMaxBackoff = 3 * time.Second
)

var suite struct {
	once    sync.Once
	err     error
	skip    string
	env     *envtest.Environment
	cfg     *rest.Config
	client  client.Client
	ctrl    *Controller
	cancel  context.CancelFunc
	done    chan error
	logPath string
}

func TestMain(m *testing.M) {
	code := m.Run()
	stopSuite()
	if code == 0 && suite.logPath != "" {
		_ = os.Remove(suite.logPath) // kept only when a test failed
	}
	if code == 0 {
		if err := goleak.Find(leakOptions()...); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines leaked after the suite stopped: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// leakOptions ignore goroutines that client-go and the Go runtime keep for the process's life,
// whoever started them; everything the controller starts must be gone.
func leakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*loggingT).flushDaemon"),
		goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreAnyFunction("k8s.io/apimachinery/pkg/watch.(*Broadcaster).loop"),
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*Typed[...]).updateUnfinishedWorkLoop"),
		goleak.IgnoreAnyFunction("k8s.io/client-go/util/workqueue.(*delayingType[...]).waitingLoop"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
	}
}

// harness is what a test gets from the suite.
type harness struct {
	client client.Client
	ctrl   *Controller
	ns     string
}

// startSuite starts the API server and the manager once, and gives the test a fresh namespace.
// Without the envtest binaries the test fails where servers are required (CI, make test) and
// is skipped loudly otherwise, as testserver does for the other servers.
func startSuite(t *testing.T) *harness {
	t.Helper()
	suite.once.Do(func() { suite.err = bootSuite() })
	if suite.skip != "" {
		if testserver.ServersRequired() {
			t.Fatal(suite.skip)
		}
		t.Skipf("\n%s\nSKIPPED, NOT TESTED: %s\n%s", strings.Repeat("!", 78), suite.skip, strings.Repeat("!", 78))
	}
	if suite.err != nil {
		t.Fatalf("suite: %v (manager log: %s)", suite.err, suite.logPath)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("manager log: %s", suite.logPath)
		}
	})
	return &harness{client: suite.client, ctrl: suite.ctrl, ns: newNamespace(t, suite.client)}
}

func bootSuite() error {
	assets := envtestAssets()
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			suite.skip = fmt.Sprintf("envtest binaries missing in %s; run `make test-deps` (hack/test-deps.sh)", assets)
			return nil
		}
	}
	logFile, err := os.CreateTemp("", "kvmirror-controllers-*.log")
	if err != nil {
		return err
	}
	suite.logPath = logFile.Name()
	logf.SetLogger(zap.New(zap.WriteTo(logFile), zap.UseDevMode(true)))

	suite.env = newEnv()
	if suite.cfg, err = suite.env.Start(); err != nil {
		return fmt.Errorf("start envtest: %w", err)
	}
	if suite.client, err = client.New(suite.cfg, client.Options{Scheme: testScheme()}); err != nil {
		return err
	}
	mgr, c, err := newTestManager(suite.cfg)
	if err != nil {
		return err
	}
	suite.ctrl = c
	var ctx context.Context
	ctx, suite.cancel = context.WithCancel(context.Background())
	suite.done = make(chan error, 1)
	go func() { suite.done <- mgr.Start(ctx) }()
	return nil
}

// envtestAssets is where the API server and etcd are: $KUBEBUILDER_ASSETS, as envtest reads it,
// or the folder hack/test-deps.sh fills.
func envtestAssets() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return testcluster.Assets()
}

func newEnv() *envtest.Environment {
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: envtestAssets(),
	}
}

func stopSuite() {
	if suite.cancel != nil {
		suite.cancel()
		if err := <-suite.done; err != nil {
			fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		}
	}
	if suite.env != nil {
		_ = suite.env.Stop()
	}
}

func testScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	return s
}

// newTestManager builds a manager the way cmd/manager does (same cache restrictions), with the
// controller added, metrics and probes off, and short backoffs.
func newTestManager(cfg *rest.Config) (manager.Manager, *Controller, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 testScheme(),
		Cache:                  cache.Options{ByObject: CacheByObject()},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := SetupWithManager(mgr, Options{MinBackoff: testMinBackoff, MaxBackoff: testMaxBackoff, SkipNameValidation: true})
	return mgr, c, err
}

func newNamespace(t *testing.T, c client.Client) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "t-" + randomName()}}
	if err := c.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

func randomName() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// randomPrefix is a key prefix of its own for one test, so tests never see each other's keys.
func randomPrefix() string { return "kvmirror-test/" + randomName() }

// g returns a gomega bound to t with the suite's generous bounds.
func g(t *testing.T) gomega.Gomega {
	gm := gomega.NewWithT(t)
	gm.SetDefaultEventuallyTimeout(eventually)
	gm.SetDefaultEventuallyPollingInterval(poll)
	gm.SetDefaultConsistentlyDuration(consistently)
	gm.SetDefaultConsistentlyPollingInterval(poll)
	return gm
}

// hasWatch reports whether the controller runs a KV watch for the mirror.
func (c *Controller) hasWatch(ns, name string) bool {
	c.watches.mu.Lock()
	defer c.watches.mu.Unlock()
	_, ok := c.watches.running[types.NamespacedName{Namespace: ns, Name: name}]
	return ok
}
