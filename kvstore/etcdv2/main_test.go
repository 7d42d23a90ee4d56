package etcdv2_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// endpoints are those of the server of the Example functions, which get no *testing.T to start
// one with; the tests start servers of their own.
var endpoints []string

// TestMain starts the examples' server, runs the tests, stops the server, then fails the package
// if a Store leaked a goroutine: watches, lock keepers and HTTP connections must all end with
// Close. As TestLockHolderKilled's lock holder, the binary only holds a lock.
func TestMain(m *testing.M) {
	if os.Getenv(lockHolderEnv) != "" {
		holdLock()
		return
	}
	goleak.VerifyTestMain(testserver.Shared(m, func(tb testing.TB) {
		endpoints = testserver.EtcdV2(tb).Endpoints
	}))
}
