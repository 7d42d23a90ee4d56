package testserver_test

import (
	"context"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// fakeM stands for the *testing.M of a TestMain, which a test cannot make.
type fakeM struct {
	code int
	run  func()
	ran  bool
}

func (m *fakeM) Run() int {
	m.ran = true
	if m.run != nil {
		m.run()
	}
	return m.code
}

// TestSharedOrder: setup runs before the tests and its clean-ups after them, last registered
// first, once the TB's context has ended, and Run returns the tests' exit code.
func TestSharedOrder(t *testing.T) {
	t.Parallel()
	var events []string
	var dir string
	var ctx context.Context
	m := &fakeM{code: 3, run: func() { events = append(events, "tests") }}
	code := testserver.Shared(m, func(tb testing.TB) {
		ctx = tb.Context()
		dir = tb.TempDir()
		tb.Cleanup(func() { events = append(events, "first registered") })
		tb.Cleanup(func() {
			events = append(events, "last registered")
			if ctx.Err() == nil {
				t.Error("the TB's context is alive during its clean-ups")
			}
		})
		events = append(events, "setup")
	}).Run()
	if code != 3 {
		t.Errorf("Run = %d, want the tests' 3", code)
	}
	if want := []string{"setup", "tests", "last registered", "first registered"}; !slices.Equal(events, want) {
		t.Errorf("events %q, want %q", events, want)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("TempDir %s is left after Run: %v", dir, err)
	}
}

// TestSharedSetupStops: Fatal and Skip in setup end it there, as in a test; no test runs, the
// clean-ups registered so far do, and Run returns 1 for a failure and 0 for a skip.
func TestSharedSetupStops(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		stop func(testing.TB)
		want int
	}{
		"Fatal":    {func(tb testing.TB) { tb.Fatal("no server") }, 1},
		"Fatalf":   {func(tb testing.TB) { tb.Fatalf("no %s", "server") }, 1},
		"FailNow":  {testing.TB.FailNow, 1},
		"Setenv":   {func(tb testing.TB) { tb.Setenv("KVMIRROR_TEST", "1") }, 1},
		"Skip":     {func(tb testing.TB) { tb.Skip("binary missing") }, 0},
		"Skipf":    {func(tb testing.TB) { tb.Skipf("binary %s", "missing") }, 0},
		"SkipNow":  {testing.TB.SkipNow, 0},
		"Error":    {func(tb testing.TB) { tb.Error("goes on, then fails") }, 1},
		"ErrorEnd": {func(tb testing.TB) { tb.Errorf("goes %s", "on"); tb.SkipNow() }, 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m := &fakeM{}
			cleaned := false
			code := testserver.Shared(m, func(tb testing.TB) {
				tb.Cleanup(func() { cleaned = true })
				c.stop(tb)
				if !tb.Failed() {
					t.Error("setup went on after it stopped")
				}
			}).Run()
			if code != c.want {
				t.Errorf("Run = %d, want %d", code, c.want)
			}
			if m.ran {
				t.Error("the tests ran after setup stopped")
			}
			if !cleaned {
				t.Error("setup's clean-up did not run")
			}
		})
	}
}

// TestSharedServer: a server that setup starts serves while the tests run and is stopped when
// Run returns.
func TestSharedServer(t *testing.T) {
	t.Parallel()
	var server *testserver.Server
	serving := false
	m := &fakeM{run: func() { serving = dials(server.Endpoints[0]) }}
	code := testserver.Shared(m, func(tb testing.TB) { server = testserver.Etcd(tb) }).Run()
	if code == 0 && !m.ran {
		t.Skip("testserver skipped: the etcd binary is missing and servers are optional")
	}
	if code != 0 {
		t.Fatalf("Run = %d, want 0", code)
	}
	if !serving {
		t.Error("the shared server did not serve during the tests")
	}
	if dials(server.Endpoints[0]) {
		t.Error("the shared server still serves after Run")
	}
}

func dials(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}
