package leadergate

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// leaderGauge is served with controller-runtime's metrics, so that non-leaders show who does
// not lead as well as who does.
var leaderGauge = prometheus.NewGauge(prometheus.GaugeOpts{
	Name: "kvmirror_leader",
	Help: "1 while this replica holds the leadership lock and runs the controllers, else 0.",
})

func init() { metrics.Registry.MustRegister(leaderGauge) }
