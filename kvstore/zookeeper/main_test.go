package zookeeper_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// endpoints are those of the ZooKeeper server shared by the examples and the conformance suite,
// which both work below keys of their own. Tests that stop, pause or reconfigure a server start
// their own. An Example function cannot take a *testing.T, so TestMain starts this one.
var endpoints []string

// TestMain starts the shared server, runs the tests, stops the server, then fails the package if
// a goroutine is left: every Store must end all it started on Close, go-zookeeper's included.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(testserver.Shared(m, func(tb testing.TB) {
		endpoints = testserver.ZooKeeper(tb).Endpoints
	}))
}
