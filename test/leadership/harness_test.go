package leadership_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/internal/testcluster"
	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
	"github.com/kvmirror/kvmirror/kvstore/leadership"

	_ "github.com/kvmirror/kvmirror/kvstore/consul"
	_ "github.com/kvmirror/kvmirror/kvstore/etcd"
)

const (
	electionKey = "kvmirror/leader"
	namespace   = "default"
	mirrorName  = "app"
)

// cluster is one Kubernetes API server with a KVMirror of the prefix "app" on etcd.
type cluster struct {
	kubeconfig string
	client     client.WithWatch
}

func newCluster(t *testing.T, etcdEndpoints []string) *cluster {
	t.Helper()
	env := testcluster.Environment(t)
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	mirror := &v1alpha1.KVMirror{
		ObjectMeta: metav1.ObjectMeta{Name: mirrorName, Namespace: namespace},
		Spec: v1alpha1.KVMirrorSpec{
			Backend: v1alpha1.BackendSpec{Type: "etcd", Endpoints: etcdEndpoints},
			Prefix:  "app",
		},
	}
	if err := c.Create(t.Context(), mirror); err != nil {
		t.Fatal(err)
	}
	return &cluster{kubeconfig: testcluster.KubeconfigFile(t, env), client: c}
}

// configMap returns the mirror's ConfigMap, or nil if there is none.
func (c *cluster) configMap(ctx context.Context) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	err := c.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: mirrorName}, &cm)
	if client.IgnoreNotFound(err) != nil {
		return nil, err
	}
	if err != nil {
		return nil, nil
	}
	return &cm, nil
}

// replica is one manager process.
type replica struct {
	name    string
	proc    *testserver.Process
	probe   string
	metrics string
}

func startReplica(t *testing.T, c *cluster, name, storeURL string, ttl time.Duration) *replica {
	t.Helper()
	r := &replica{
		name:    name,
		probe:   fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)),
		metrics: fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)),
	}
	cmd := exec.Command(managerBin,
		"--kubeconfig="+c.kubeconfig,
		"--leader-elect-store="+storeURL,
		"--leader-elect-identity="+name,
		"--leader-elect-ttl="+ttl.String(),
		"--leader-elect-store-timeout=2s",
		"--metrics-bind-address="+r.metrics,
		"--health-probe-bind-address="+r.probe,
		"--zap-time-encoding=rfc3339nano",
	)
	// A test that dies must not leave managers behind: the Process dies with it.
	proc, err := testserver.StartProcess(cmd, filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	r.proc = proc
	t.Cleanup(func() {
		r.proc.Stop(20 * time.Second)
		if t.Failed() {
			t.Logf("--- log of replica %s (tail) ---\n%s", name, r.logTail(40))
		}
	})
	return r
}

func (r *replica) signal(sig syscall.Signal) { _ = r.proc.Signal(sig) }

func (r *replica) alive() bool { return r.proc.Running() }

// waitExit waits for the process to end and returns its exit code.
func (r *replica) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-r.proc.Done():
	case <-time.After(within):
		t.Fatalf("replica %s still running after %s", r.name, within)
	}
	var exit *exec.ExitError
	if errors.As(r.proc.ExitErr(), &exit) {
		return exit.ExitCode()
	}
	return 0
}

// leaderMetric reads kvmirror_leader from the replica's metrics endpoint.
func (r *replica) leaderMetric(ctx context.Context) (float64, error) {
	body, err := get(ctx, "http://"+r.metrics+"/metrics")
	if err != nil {
		return 0, err
	}
	scanner := bufio.NewScanner(strings.NewReader(body))
	for scanner.Scan() {
		if value, ok := strings.CutPrefix(scanner.Text(), "kvmirror_leader "); ok {
			return strconv.ParseFloat(value, 64)
		}
	}
	return 0, errors.New("no kvmirror_leader metric")
}

// loggedAt returns when the replica first logged a message starting with msg.
func (r *replica) loggedAt(msg string) (time.Time, bool) {
	data, err := os.ReadFile(r.proc.LogPath())
	if err != nil {
		return time.Time{}, false
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		var entry struct {
			TS  string `json:"ts"`
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || !strings.HasPrefix(entry.Msg, msg) {
			continue
		}
		if ts, err := time.Parse(time.RFC3339Nano, entry.TS); err == nil {
			return ts, true
		}
	}
	return time.Time{}, false
}

func (r *replica) ready(ctx context.Context) bool {
	_, err := get(ctx, "http://"+r.probe+"/readyz")
	return err == nil
}

func get(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(body), err
}

// logTail returns the last n lines of the replica's log, or why it cannot be read.
func (r *replica) logTail(n int) string {
	tail, err := r.proc.LogTail(n)
	if err != nil {
		return err.Error()
	}
	return tail
}

// openStore opens a kvstore Store on url for the test.
func openStore(t *testing.T, url string) kvstore.Store {
	t.Helper()
	store, err := kvstore.OpenURL(t.Context(), url, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// waitLeader waits until the election names a leader other than not, and returns it with the
// time it took.
func waitLeader(t *testing.T, store kvstore.Store, not string, within time.Duration) (string, time.Duration) {
	t.Helper()
	follower := leadership.NewFollower(store, electionKey)
	start := time.Now()
	for time.Since(start) < within {
		leader, err := follower.Leader(t.Context())
		if err == nil && leader != "" && leader != not {
			return leader, time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no new leader (other than %q) within %s", not, within)
	return "", 0
}

// eventually polls cond every 100 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeRecord is one version of the mirror's ConfigMap as the API server saw it.
type writeRecord struct {
	resourceVersion uint64
	leader          string
	term            uint64
}

// recorder watches a cluster's ConfigMaps and keeps every version of the mirror's ConfigMap.
type recorder struct {
	mu      sync.Mutex
	records []writeRecord
}

func record(t *testing.T, c *cluster) *recorder {
	t.Helper()
	rec := &recorder{}
	w, err := c.client.Watch(t.Context(), &corev1.ConfigMapList{}, client.InNamespace(namespace))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok || cm.Name != mirrorName {
				continue
			}
			rv, _ := strconv.ParseUint(cm.ResourceVersion, 10, 64)
			term, _ := strconv.ParseUint(cm.Annotations[v1alpha1.AnnotationLeaderTerm], 10, 64)
			rec.mu.Lock()
			rec.records = append(rec.records, writeRecord{rv, cm.Annotations[v1alpha1.AnnotationLeader], term})
			rec.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.Stop(); <-done })
	return rec
}

// checkNoOverlap fails the test if the write record shows two leaders acting at once: in the
// API server's order of writes, a term never writes after a later term has, and one term
// belongs to one leader. It returns the number of terms that wrote.
func (rec *recorder) checkNoOverlap(t *testing.T) int {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	owner := map[uint64]string{}
	var latest uint64
	for _, w := range rec.records {
		if w.leader == "" || w.term == 0 {
			t.Errorf("write at resourceVersion %d carries no leader record", w.resourceVersion)
			continue
		}
		if w.term < latest {
			t.Errorf("write at resourceVersion %d by %s in term %d after term %d had written: two leaders acted at once",
				w.resourceVersion, w.leader, w.term, latest)
		}
		latest = max(latest, w.term)
		if prev, ok := owner[w.term]; ok && prev != w.leader {
			t.Errorf("term %d written by both %s and %s", w.term, prev, w.leader)
		}
		owner[w.term] = w.leader
	}
	return len(owner)
}

// writer puts app/counter into the store every interval until ctx ends, so that every leader has
// something to mirror.
func writer(ctx context.Context, store kvstore.Store, interval time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				_ = store.Put(ctx, "app/counter", []byte(strconv.Itoa(i)), nil)
			}
		}
	}()
	return done
}
