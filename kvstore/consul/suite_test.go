package consul_test

import (
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/consul"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
)

// TestConformance runs the kvstore conformance suite against Consul 1.13. Consul supports every
// capability. The test server's session_ttl_min is 1s, so the suite's 2s TTLs (a session TTL of
// 1s, invalidated at twice that) are honoured exactly; with Consul's default minimum of 10s, TTLs
// under 20s would last 20s.
func TestConformance(t *testing.T) {
	kvtest.Suite{
		New: func(t *testing.T) kvstore.Store {
			st, err := consul.New(t.Context(), endpoints, nil)
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}.Run(t)
}
