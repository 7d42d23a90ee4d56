package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// The operator's metrics, served with controller-runtime's on the manager's metrics endpoint.
// Per-mirror series are deleted when the mirror goes; per-backend series when no Store of that
// backend is open any more.
var (
	syncsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kvmirror_syncs_total",
		Help: "Reconciles of KVMirrors, by result: the Ready reason they ended with (Synced, BackendUnreachable, ...).",
	}, []string{"result"})

	syncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kvmirror_sync_duration_seconds",
		Help:    "Time one KVMirror reconcile took: Secrets, listing the prefix, writing the ConfigMap and the status.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16), // 1ms to ~33s
	})

	eventToWrite = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "kvmirror_event_to_write_seconds",
		Help:    "Time from a watch event of the key/value store to the ConfigMap write it caused.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
	})

	mirroredKeys = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kvmirror_keys",
		Help: "Keys in the ConfigMap of each KVMirror after its last sync.",
	}, []string{"namespace", "name"})

	backendUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kvmirror_backend_up",
		Help: "1 if the last read of the backend (type://endpoints; on etcd, in both key layouts) succeeded, 0 if it failed.",
	}, []string{"backend"})
)

func init() {
	metrics.Registry.MustRegister(syncsTotal, syncDuration, eventToWrite, mirroredKeys, backendUp)
}

// forgetMirrorMetrics drops the series of a mirror that no longer exists.
func forgetMirrorMetrics(namespace, name string) {
	mirroredKeys.DeleteLabelValues(namespace, name)
}

// backendGauges keeps kvmirror_backend_up to the backends some mirror reads: it remembers which
// backend each mirror last read, and drops a backend's series when no mirror reads it any more.
type backendGauges struct {
	mu       sync.Mutex
	byMirror map[types.NamespacedName]string
}

func newBackendGauges() *backendGauges {
	return &backendGauges{byMirror: map[types.NamespacedName]string{}}
}

// set records whether mirror's last read of backend label succeeded.
func (g *backendGauges) set(mirror types.NamespacedName, label string, up bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old, had := g.byMirror[mirror]
	g.byMirror[mirror] = label
	if had && old != label {
		g.dropUnused(old)
	}
	v := 0.0
	if up {
		v = 1
	}
	backendUp.WithLabelValues(label).Set(v)
}

// forget drops mirror, and its backend's series if no other mirror reads that backend.
func (g *backendGauges) forget(mirror types.NamespacedName) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if label, ok := g.byMirror[mirror]; ok {
		delete(g.byMirror, mirror)
		g.dropUnused(label)
	}
}

func (g *backendGauges) dropUnused(label string) {
	for _, l := range g.byMirror {
		if l == label {
			return
		}
	}
	backendUp.DeleteLabelValues(label)
}
