package zookeeper_test

import (
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

// TestConformance runs the kvstore conformance suite against ZooKeeper 3.8. ZooKeeper supports
// every capability. The suite's 2 s lock TTL becomes the lock session's timeout, within the
// server's bounds of 2 and 20 ticks (1 s and 10 s here); its 2 s key TTL is honoured by the
// Store's own expiry, the server sweeping only once a minute.
func TestConformance(t *testing.T) {
	kvtest.Suite{
		New: func(t *testing.T) kvstore.Store {
			st, err := zookeeper.New(t.Context(), endpoints, nil)
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}.Run(t)
}
