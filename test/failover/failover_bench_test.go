package failover_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/kvmirror/kvmirror/internal/testcluster"
	"github.com/kvmirror/kvmirror/kvstore"
	_ "github.com/kvmirror/kvmirror/kvstore/consul" // registers "consul" for kvstore.Open
	_ "github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
	"github.com/kvmirror/kvmirror/kvstore/leadership"
	_ "github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

const (
	// kvTTL is the TTL of the kvstore candidates: leadership.DefaultTTL, what the manager runs with.
	kvTTL = 5 * time.Second

	// controller-runtime's defaults (manager.Options), what an operator gets unless it sets them.
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second

	// electedWithin bounds every wait for an election: a hand-over that slow is a failure to
	// report, not a number to average.
	electedWithin = 2 * time.Minute

	// Before the leader is stopped, the trial waits settleBase plus a random part of settleSpread,
	// so that the trials stop it at different points of its renewal cycle and of the successor's
	// polling cycle, on which the hand-over of an expiry depends.
	settleBase   = 500 * time.Millisecond
	settleSpread = time.Second

	// Trials per b.N: one when the hand-over waits out a 15 s Lease, three otherwise, which keeps
	// the whole benchmark near two minutes on a 2-core machine, server starts included.
	expiryTrials = 1
	trials       = 3
)

// BenchmarkFailover measures hand-over time: from the moment the leader stops to the moment the
// waiting candidate is elected. The Lease cases are the baseline, client-go's Lease election with
// controller-runtime's default timings against a real API server (envtest); the kvstore cases run
// kvstore/leadership (TTL 5 s) on each backend's real server, and report their mean as a ratio of
// the Lease case of the same kind measured earlier in the same run (kv/lease), since only ratios
// survive a shared, noisy machine.
//
//   - crash: the leader runs in a child process that is killed with SIGKILL, so it neither renews
//     nor releases anything.
//   - stop: the leader's context is cancelled, as a manager's is on SIGTERM. Lease election
//     releases nothing then (ReleaseOnCancel false, controller-runtime's default); kvstore
//     candidates always release.
//   - stop-release: the Lease leader with ReleaseOnCancel true, for comparison.
//
// Each sub-benchmark runs a fixed number of hand-overs per b.N, logs each and reports their mean
// in s/handover; ns/op, which would count each trial's set-up, is suppressed, and the B/op and
// allocs/op that -benchmem prints are this process's share of whole trials, not a cost of the
// hand-over. One iteration takes longer than the default -benchtime, so b.N is 1 with the default
// as with -benchtime=1x; a larger -benchtime=Nx only multiplies the trials.
func BenchmarkFailover(b *testing.B) {
	lease := map[string]float64{} // Lease baseline, mean s/handover by case
	b.Run("lease", func(b *testing.B) {
		env := testcluster.Environment(b)
		kubeconfig := filepath.Join(b.TempDir(), "kubeconfig")
		if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
			b.Fatal(err)
		}
		client := leaseClient(b, env.Config)
		for _, c := range []struct {
			name           string
			crash, release bool
			trials         int
		}{
			{"crash", true, false, expiryTrials},
			{"stop", false, false, expiryTrials},
			{"stop-release", false, true, trials},
		} {
			b.Run(c.name, func(b *testing.B) {
				start := func(name, identity string, crash bool) *contender {
					if crash {
						return startChild(b, childSpec{Backend: "lease", KubeConfig: kubeconfig, Key: name, Identity: identity})
					}
					return startLease(b, client, name, identity, c.release)
				}
				lease[c.name] = measure(b, c.trials, c.crash, start)
			})
		}
	})
	for _, backend := range []struct {
		name  string
		start func(testing.TB, ...testserver.Option) *testserver.Server
	}{
		{"etcd", testserver.Etcd},
		{"consul", testserver.Consul},
		{"zookeeper", testserver.ZooKeeper},
	} {
		b.Run(backend.name, func(b *testing.B) {
			endpoints := backend.start(b).Endpoints
			leaderStore, followerStore := openStore(b, backend.name, endpoints), openStore(b, backend.name, endpoints)
			for _, c := range []struct {
				name  string
				crash bool
			}{{"crash", true}, {"stop", false}} {
				b.Run(c.name, func(b *testing.B) {
					start := func(key, identity string, crash bool) *contender {
						switch {
						case crash:
							return startChild(b, childSpec{Backend: backend.name, Endpoints: endpoints, Key: key, Identity: identity})
						case identity == leaderIdentity:
							return startKV(b, leaderStore, key, identity)
						}
						return startKV(b, followerStore, key, identity)
					}
					mean := measure(b, trials, c.crash, start)
					reportRatio(b, mean, lease, c.name, "kv/lease")
					if !c.crash {
						reportRatio(b, mean, lease, "stop-release", "kv/lease-release")
					}
				})
			}
		})
	}
}

// reportRatio reports mean as a ratio of the Lease case baseline, when that case ran.
func reportRatio(b *testing.B, mean float64, lease map[string]float64, baseline, unit string) {
	if base, ok := lease[baseline]; ok && base > 0 {
		b.ReportMetric(mean/base, unit)
		return
	}
	b.Logf("no Lease %s baseline in this run (filtered out by -bench?): %s not reported", baseline, unit)
}

const (
	leaderIdentity   = "leader"
	followerIdentity = "follower"
)

// startFunc starts a candidate for the election named key; crash asks for one in a child process,
// whose stop kills it.
type startFunc func(key, identity string, crash bool) *contender

// measure runs trials hand-overs per b.N, each on an election of its own, and reports their mean.
func measure(b *testing.B, trials int, crash bool, start startFunc) float64 {
	var total time.Duration
	var took []string
	for range b.N {
		for range trials {
			key := fmt.Sprintf("failover-%x-%d", rand.Uint32(), len(took))
			d := handOver(b, start, key, crash)
			total += d
			took = append(took, d.Round(time.Millisecond).String())
		}
	}
	mean := total.Seconds() / float64(len(took))
	b.Logf("hand-overs: %s", strings.Join(took, ", "))
	b.ReportMetric(mean, "s/handover")
	b.ReportMetric(0, "ns/op")
	return mean
}

// handOver elects a leader, starts a successor that waits, stops the leader and returns the time
// from that stop to the successor's election.
func handOver(b *testing.B, start startFunc, key string, crash bool) time.Duration {
	leader := start(key, leaderIdentity, crash)
	defer leader.stop()
	await(b, leader, leader.elected, "first candidate elected")
	follower := start(key, followerIdentity, false)
	defer follower.stop()
	if follower.following != nil {
		await(b, follower, follower.following, "second candidate seeing the leader")
	}
	time.Sleep(settleBase + rand.N(settleSpread))
	stopped := time.Now()
	leader.stop()
	await(b, follower, follower.elected, "second candidate elected after the leader stopped")
	return follower.electedAt.Sub(stopped)
}

// await waits for ch to close, failing when c ended first or after electedWithin.
func await(b *testing.B, c *contender, ch <-chan struct{}, what string) {
	b.Helper()
	timer := time.NewTimer(electedWithin)
	defer timer.Stop()
	select {
	case <-ch:
	case <-c.failed:
		b.Fatalf("no %s: the candidate process ended", what)
	case <-timer.C:
		b.Fatalf("no %s within %s", what, electedWithin)
	}
}

// contender is a candidate under measurement.
type contender struct {
	elected   chan struct{} // closed when the candidate is elected
	electedAt time.Time     // written before elected closes
	once      sync.Once
	// following is closed once the candidate has seen another one lead; nil where that cannot
	// be observed (a kvstore candidate just waits on the lock).
	following chan struct{}
	follow    sync.Once
	// failed is closed when a candidate process ended before it was elected; nil in-process.
	failed chan struct{}
	// stop ends the candidate and waits until it has ended; calling it again does nothing.
	stop func()
}

func newContender() *contender { return &contender{elected: make(chan struct{})} }

func (c *contender) markElected() {
	c.once.Do(func() {
		c.electedAt = time.Now()
		close(c.elected)
	})
}

// startKV campaigns with kvstore/leadership in this process.
func startKV(b *testing.B, store kvstore.Store, key, identity string) *contender {
	candidate, err := leadership.NewCandidate(store, leadership.Config{Key: key, Identity: identity, TTL: kvTTL})
	if err != nil {
		b.Fatal(err)
	}
	c := newContender()
	ctx, cancel := context.WithCancel(context.Background())
	events := candidate.Campaign(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for elected := range events {
			if elected {
				c.markElected()
			}
		}
	}()
	c.stop = sync.OnceFunc(func() { cancel(); <-done })
	b.Cleanup(c.stop)
	return c
}

// startLease campaigns with client-go's Lease election in this process.
func startLease(b *testing.B, client coordinationv1client.LeasesGetter, name, identity string, release bool) *contender {
	c := newContender()
	c.following = make(chan struct{})
	elector, err := newLeaseElector(client, name, identity, release, leaderelection.LeaderCallbacks{
		OnStartedLeading: func(context.Context) { c.markElected() },
		OnStoppedLeading: func() {},
		OnNewLeader: func(leader string) {
			if leader != identity {
				c.follow.Do(func() { close(c.following) })
			}
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	// client-go logs every acquisition through the context's logger; the benchmark's output
	// should hold results only.
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), logr.Discard()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		elector.Run(ctx)
	}()
	c.stop = sync.OnceFunc(func() { cancel(); <-done })
	b.Cleanup(c.stop)
	return c
}

func newLeaseElector(client coordinationv1client.LeasesGetter, name, identity string, release bool,
	callbacks leaderelection.LeaderCallbacks) (*leaderelection.LeaderElector, error) {
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: "default", Name: name},
			Client:     client,
			LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
		},
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: release,
		Callbacks:       callbacks,
		Name:            name,
	})
}

// leaseClient returns a Lease client on a transport of its own, whose connections are closed
// when the benchmark ends: client-go's process-wide transport cache would keep them, and their
// goroutines, past the package's leak check.
func leaseClient(b *testing.B, cfg *rest.Config) coordinationv1client.LeasesGetter {
	tlsConfig, err := rest.TLSConfigFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	transport := &http.Transport{TLSClientConfig: tlsConfig}
	b.Cleanup(transport.CloseIdleConnections)
	wrapped, err := rest.HTTPWrappersForConfig(cfg, transport)
	if err != nil {
		b.Fatal(err)
	}
	client, err := coordinationv1client.NewForConfigAndClient(cfg, &http.Client{Transport: wrapped})
	if err != nil {
		b.Fatal(err)
	}
	return client
}

func storeConfig() *kvstore.Config { return &kvstore.Config{ConnectionTimeout: 5 * time.Second} }

func openStore(b *testing.B, backend string, endpoints []string) kvstore.Store {
	store, err := kvstore.Open(b.Context(), backend, endpoints, storeConfig())
	if err != nil {
		b.Fatalf("opening %s: %v", backend, err)
	}
	b.Cleanup(func() { _ = store.Close() })
	return store
}

// childEnv makes the test binary, re-executed, a candidate that a trial crashes: only the death of
// a process stops renewals without a word to the server (no release, no closed session), as a
// crash or a lost node would. Its value is a JSON childSpec.
const childEnv = "KVMIRROR_FAILOVER_CANDIDATE"

type childSpec struct {
	Backend    string   // "lease", or a kvstore backend name
	Endpoints  []string // of the kvstore backend
	KubeConfig string   // path of an admin kubeconfig, for "lease"
	Key        string   // lock key, or Lease name
	Identity   string
}

// init runs the child before TestMain: a child runs no test and must not reach its leak check.
func init() {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
}

// runChild campaigns, prints "elected" once elected, and holds until its stdin closes (the
// benchmark ended without killing it) or it is killed.
func runChild(specJSON string) int {
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "failover child:", err)
		return 2
	}
	elected := make(chan struct{})
	var once sync.Once
	onElected := func() { once.Do(func() { close(elected) }) }
	var err error
	if spec.Backend == "lease" {
		err = childLease(spec, onElected)
	} else {
		err = childKV(spec, onElected)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "failover child:", err)
		return 1
	}
	go func() {
		<-elected
		fmt.Println("elected")
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

func childKV(spec childSpec, onElected func()) error {
	store, err := kvstore.Open(context.Background(), spec.Backend, spec.Endpoints, storeConfig())
	if err != nil {
		return err
	}
	candidate, err := leadership.NewCandidate(store, leadership.Config{Key: spec.Key, Identity: spec.Identity, TTL: kvTTL})
	if err != nil {
		return err
	}
	events := candidate.Campaign(context.Background())
	go func() {
		for elected := range events {
			if elected {
				onElected()
			}
		}
	}()
	return nil
}

func childLease(spec childSpec, onElected func()) error {
	data, err := os.ReadFile(spec.KubeConfig)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return err
	}
	client, err := coordinationv1client.NewForConfig(cfg)
	if err != nil {
		return err
	}
	elector, err := newLeaseElector(client, spec.Key, spec.Identity, false, leaderelection.LeaderCallbacks{
		OnStartedLeading: func(context.Context) { onElected() },
		OnStoppedLeading: func() {},
	})
	if err != nil {
		return err
	}
	go elector.Run(context.Background())
	return nil
}

// startChild starts a candidate in a child process; its stop kills it with SIGKILL.
func startChild(b *testing.B, spec childSpec) *contender {
	data, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	logPath := filepath.Join(b.TempDir(), "candidate.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = logFile.Close() }() // the child has its own descriptor
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+string(data))
	cmd.Stderr = logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	c := newContender()
	c.failed = make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		if line, _ := bufio.NewReader(stdout).ReadString('\n'); line == "elected\n" {
			c.markElected()
			return
		}
		close(c.failed)
	}()
	// The pipe must be drained before Wait, which closes it.
	c.stop = sync.OnceFunc(func() {
		_ = cmd.Process.Kill()
		<-read
		_ = cmd.Wait()
		_ = stdin.Close()
	})
	b.Cleanup(func() {
		c.stop()
		if b.Failed() {
			log, _ := os.ReadFile(logPath)
			b.Logf("candidate process log:\n%s", log)
		}
	})
	return c
}
