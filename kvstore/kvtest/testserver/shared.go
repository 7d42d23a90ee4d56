package testserver

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"testing"
)

// TestingM is what Shared wraps: *testing.M, or a stand-in in Shared's own tests, which cannot
// make a testing.M.
type TestingM interface {
	Run() int
}

// M runs a test binary's tests between the start and the stop of servers they share. Make it
// with Shared.
type M struct {
	m     TestingM
	setup func(tb testing.TB)
}

// Shared returns m with setup around it, for a TestMain whose package has Example functions:
// they get no *testing.T to start a server with, so TestMain starts one for them (and for any
// test that only needs a server of its own prefix). Run calls setup with a testing.TB that
// stands for TestMain, then runs the tests, then the TB's clean-ups, which stop the servers.
// Given to goleak.VerifyTestMain, M lets it look for leaked goroutines once those servers are
// stopped and their clean-ups have ended:
//
//	var endpoints []string
//
//	func TestMain(m *testing.M) {
//		goleak.VerifyTestMain(testserver.Shared(m, func(tb testing.TB) {
//			endpoints = testserver.Etcd(tb).Endpoints
//		}))
//	}
//
// When setup fails, no test runs and Run returns 1. When setup skips, which a starter does only
// where servers are optional (see the package documentation, which says loudly what did not
// run), no test runs and Run returns 0.
func Shared(m TestingM, setup func(tb testing.TB)) *M {
	return &M{m: m, setup: setup}
}

// Run runs setup, then the tests, then setup's clean-ups, and returns the tests' exit code.
// A fuzzing worker, a process `go test -fuzz` starts to run the fuzz target alone, runs the
// tests without setup: fuzz targets need no server, and each worker would start one.
func (m *M) Run() int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if f := flag.Lookup("test.fuzzworker"); f != nil && f.Value.String() == "true" {
		return m.m.Run()
	}
	tb := newMainTB()
	defer tb.cleanup()
	if !tb.run(m.setup) {
		if tb.Failed() {
			return 1
		}
		return 0
	}
	return m.m.Run()
}

// mainTB is the testing.TB that setup gets, as TestMain has none. Like a test's, its FailNow and
// SkipNow end the goroutine that run started, its Context ends before its clean-ups run, and
// these run last registered first. Setenv and Chdir fail: outside a test nothing would undo them.
type mainTB struct {
	testing.TB // nil: it only supplies the interface's unexported method; mainTB has the others

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	cleanups []func()
	failed   bool
	skipped  bool
}

func newMainTB() *mainTB {
	ctx, cancel := context.WithCancel(context.Background())
	return &mainTB{ctx: ctx, cancel: cancel}
}

// run calls f in a goroutine of its own, which FailNow and SkipNow end with runtime.Goexit as
// they end a test's, and reports whether f neither failed nor skipped.
func (tb *mainTB) run(f func(tb testing.TB)) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(tb)
	}()
	<-done
	return !tb.Failed() && !tb.Skipped()
}

// cleanup ends the TB's context, then runs the registered clean-ups, last first.
func (tb *mainTB) cleanup() {
	tb.cancel()
	tb.mu.Lock()
	cleanups := tb.cleanups
	tb.cleanups = nil
	tb.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

func (tb *mainTB) Cleanup(f func()) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.cleanups = append(tb.cleanups, f)
}

func (tb *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "kvmirror-testmain-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (tb *mainTB) set(b *bool) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	*b = true
}

func (tb *mainTB) get(b *bool) bool {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return *b
}

func (tb *mainTB) Failed() bool    { return tb.get(&tb.failed) }
func (tb *mainTB) Skipped() bool   { return tb.get(&tb.skipped) }
func (tb *mainTB) Fail()           { tb.set(&tb.failed) }
func (tb *mainTB) FailNow()        { tb.Fail(); runtime.Goexit() }
func (tb *mainTB) SkipNow()        { tb.set(&tb.skipped); runtime.Goexit() }
func (tb *mainTB) Log(args ...any) { _, _ = fmt.Fprintln(os.Stderr, args...) }
func (tb *mainTB) Logf(format string, args ...any) {
	_, _ = fmt.Fprintf(os.Stderr, format+"\n", args...)
}
func (tb *mainTB) Error(args ...any)              { tb.Log(args...); tb.Fail() }
func (tb *mainTB) Errorf(format string, a ...any) { tb.Logf(format, a...); tb.Fail() }
func (tb *mainTB) Fatal(args ...any)              { tb.Log(args...); tb.FailNow() }
func (tb *mainTB) Fatalf(format string, a ...any) { tb.Logf(format, a...); tb.FailNow() }
func (tb *mainTB) Skip(args ...any)               { tb.Log(args...); tb.SkipNow() }
func (tb *mainTB) Skipf(format string, a ...any)  { tb.Logf(format, a...); tb.SkipNow() }
func (tb *mainTB) Helper()                        {}
func (tb *mainTB) Name() string                   { return "TestMain" }
func (tb *mainTB) Context() context.Context       { return tb.ctx }
func (tb *mainTB) Output() io.Writer              { return os.Stderr }
func (tb *mainTB) Attr(string, string)            {}
func (tb *mainTB) ArtifactDir() string            { return tb.TempDir() }
func (tb *mainTB) Setenv(key, _ string)           { tb.Fatalf("testserver: TestMain cannot Setenv(%q)", key) }
func (tb *mainTB) Chdir(dir string)               { tb.Fatalf("testserver: TestMain cannot Chdir(%q)", dir) }
