package etcd_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/kvmirror/kvmirror/internal/testserver"
)

// endpoints are those of the etcd server shared by the examples and the conformance suite, which
// both work below keys of their own. Tests that stop, pause or reconfigure a server start their
// own. An Example function cannot take a *testing.T, so TestMain starts this one.
var endpoints []string

// TestMain starts the shared server, runs the tests, stops the server, then fails the package if
// a goroutine is left: every Store must end all it started on Close, the etcd client's included.
func TestMain(m *testing.M) {
	ctx, cancel := context.WithCancel(context.Background())
	tb := &mainTB{ctx: ctx}
	var server *testserver.Server
	if !tb.do(func() { server = testserver.Etcd(tb) }) {
		cancel()
		tb.cleanup()
		if tb.Skipped() {
			// testserver said why, loudly; it skips only where servers are not required.
			os.Exit(0)
		}
		os.Exit(1)
	}
	endpoints = server.Endpoints
	code := m.Run()
	cancel()
	tb.cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: goroutines left after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// mainTB is the testing.TB that testserver needs, for TestMain, which has none. Fatal and Skip
// end the goroutine that do started, as they end a test's.
type mainTB struct {
	testing.TB // never called: it only supplies the interface's unexported method

	ctx      context.Context
	mu       sync.Mutex
	cleanups []func()
	tempDirs []string
	failed   bool
	skipped  bool
}

// do calls f in a goroutine of its own, so that FailNow can end it with runtime.Goexit, and
// reports whether it neither failed nor skipped.
func (tb *mainTB) do(f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
	return !tb.Failed() && !tb.Skipped()
}

func (tb *mainTB) cleanup() {
	tb.mu.Lock()
	cleanups := tb.cleanups
	tb.cleanups = nil
	tb.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	for _, dir := range tb.tempDirs {
		_ = os.RemoveAll(dir)
	}
}

func (tb *mainTB) Cleanup(f func()) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.cleanups = append(tb.cleanups, f)
}

func (tb *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "kvmirror-etcd-test-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.tempDirs = append(tb.tempDirs, dir)
	return dir
}

func (tb *mainTB) Failed() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.failed
}

func (tb *mainTB) Skipped() bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return tb.skipped
}

func (tb *mainTB) Fail() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.failed = true
}

func (tb *mainTB) SkipNow() {
	tb.mu.Lock()
	tb.skipped = true
	tb.mu.Unlock()
	runtime.Goexit()
}

func (tb *mainTB) FailNow()                        { tb.Fail(); runtime.Goexit() }
func (tb *mainTB) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (tb *mainTB) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (tb *mainTB) Error(args ...any)               { tb.Log(args...); tb.Fail() }
func (tb *mainTB) Errorf(format string, a ...any)  { tb.Logf(format, a...); tb.Fail() }
func (tb *mainTB) Fatal(args ...any)               { tb.Log(args...); tb.FailNow() }
func (tb *mainTB) Fatalf(format string, a ...any)  { tb.Logf(format, a...); tb.FailNow() }
func (tb *mainTB) Skip(args ...any)                { tb.Log(args...); tb.SkipNow() }
func (tb *mainTB) Skipf(format string, a ...any)   { tb.Logf(format, a...); tb.SkipNow() }
func (tb *mainTB) Helper()                         {}
func (tb *mainTB) Name() string                    { return "TestMain" }
func (tb *mainTB) Context() context.Context        { return tb.ctx }
func (tb *mainTB) Output() io.Writer               { return os.Stderr }
func (tb *mainTB) Attr(string, string)             {}
func (tb *mainTB) ArtifactDir() string             { return tb.TempDir() }
func (tb *mainTB) Setenv(key, value string)        { tb.Fatalf("mainTB: Setenv(%q) is not supported", key) }
func (tb *mainTB) Chdir(dir string)                { tb.Fatalf("mainTB: Chdir(%q) is not supported", dir) }
