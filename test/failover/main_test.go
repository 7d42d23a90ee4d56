// Package failover_test measures leadership hand-over time: kvstore/leadership on each backend
// against client-go's Lease election on a real API server. It lives apart from kvstore/leadership
// because the Lease baseline needs Kubernetes, which the kvstore packages must not link.
package failover_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the candidates the benchmark starts in this process have all ended.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
