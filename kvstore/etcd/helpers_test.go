package etcd_test

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
)

// slack is added to every bound that the contract derives from a timeout or a TTL: these tests
// run under -race on a 2-core machine that other test processes share, and a bound must only
// tell "within the timeout" from "hangs".
const slack = 3 * time.Second

// open opens a Store and closes it when the test ends.
func open(t *testing.T, eps []string, cfg *kvstore.Config) kvstore.Store {
	t.Helper()
	st, err := etcd.New(t.Context(), eps, cfg)
	if err != nil {
		t.Fatalf("etcd.New(%v): %v", eps, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// prefix returns a directory of the test's own: "etcdtest/<test>-<random>".
func prefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "etcdtest/" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + hex.EncodeToString(b)
}

// within fails the test when f took longer than bound, and returns how long it took.
func within(t *testing.T, bound time.Duration, what string, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	f()
	elapsed := time.Since(start)
	if elapsed > bound {
		t.Errorf("%s took %v, more than %v", what, elapsed, bound)
	}
	return elapsed
}

// silentEndpoint returns the address of a listener that accepts connections and never answers,
// as a hung server or a black-holing firewall would.
func silentEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}
