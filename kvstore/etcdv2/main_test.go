package etcdv2_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/kvmirror/kvmirror/internal/testserver"
)

// TestMain fails the package if a Store leaks a goroutine once every test, example and clean-up
// is done: watches, lock keepers and HTTP connections must all end with Close.
func TestMain(m *testing.M) {
	if os.Getenv(lockHolderEnv) != "" {
		holdLock()
		return
	}
	code := m.Run()
	examples.stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// examples is the server of the Example functions, which get no *testing.T to start one with;
// it starts on first use and stops after the last example.
var examples exampleServer

type exampleServer struct {
	once   sync.Once
	tb     *mainTB
	server *testserver.Server
	err    error
}

// endpoints returns the example server's endpoints, starting it if need be.
func (e *exampleServer) endpoints() ([]string, error) {
	e.once.Do(func() {
		e.tb = newMainTB()
		e.err = e.tb.run(func() { e.server = testserver.EtcdV2(e.tb) })
	})
	if e.err != nil {
		return nil, e.err
	}
	return e.server.Endpoints, nil
}

func (e *exampleServer) stop() {
	if e.tb != nil {
		e.tb.cleanup()
	}
}

// mainTB is the testing.TB that testserver gets outside of any test. The embedded TB is nil:
// every method below is one testserver may call, and Fatal or Skip end the start-up with a
// panic that run turns into an error, since no test goroutine can be ended here.
type mainTB struct {
	testing.TB
	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

type mainTBStop struct{ msg string }

func newMainTB() *mainTB {
	ctx, cancel := context.WithCancel(context.Background())
	return &mainTB{ctx: ctx, cancel: cancel}
}

func (m *mainTB) run(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			stop, ok := r.(mainTBStop)
			if !ok {
				panic(r)
			}
			err = fmt.Errorf("example server: %s", stop.msg)
		}
	}()
	fn()
	return nil
}

func (m *mainTB) cleanup() {
	m.cancel()
	m.mu.Lock()
	fns := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

func (m *mainTB) Cleanup(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleanups = append(m.cleanups, f)
}
func (m *mainTB) Context() context.Context { return m.ctx }
func (m *mainTB) Helper()                  {}
func (m *mainTB) Name() string             { return "Examples" }
func (m *mainTB) Log(args ...any)          { fmt.Fprintln(os.Stderr, args...) }
func (m *mainTB) Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
func (m *mainTB) Output() io.Writer { return os.Stderr }
func (m *mainTB) Error(args ...any) { m.Log(args...); m.Fail() }
func (m *mainTB) Errorf(format string, args ...any) {
	m.Logf(format, args...)
	m.Fail()
}
func (m *mainTB) Fail() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failed = true
}
func (m *mainTB) Failed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.failed
}
func (m *mainTB) FailNow()          { m.Fail(); panic(mainTBStop{"failed"}) }
func (m *mainTB) Fatal(args ...any) { m.Fail(); panic(mainTBStop{fmt.Sprint(args...)}) }
func (m *mainTB) Fatalf(format string, args ...any) {
	m.Fail()
	panic(mainTBStop{fmt.Sprintf(format, args...)})
}
func (m *mainTB) Skip(args ...any)                 { panic(mainTBStop{fmt.Sprint(args...)}) }
func (m *mainTB) Skipf(format string, args ...any) { panic(mainTBStop{fmt.Sprintf(format, args...)}) }
func (m *mainTB) SkipNow()                         { panic(mainTBStop{"skipped"}) }
func (m *mainTB) Skipped() bool                    { return false }
func (m *mainTB) Attr(string, string)              {}
func (m *mainTB) ArtifactDir() string              { return m.TempDir() }
func (m *mainTB) Setenv(key, _ string) {
	m.Fatalf("Setenv(%q): process-wide settings are not changed outside a test", key)
}
func (m *mainTB) Chdir(dir string) {
	m.Fatalf("Chdir(%q): process-wide settings are not changed outside a test", dir)
}
func (m *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "kvmirror-etcdv2-example-")
	if err != nil {
		m.Fatal(err)
	}
	m.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
