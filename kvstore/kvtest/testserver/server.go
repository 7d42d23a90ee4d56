package testserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds a server's start. The JVM and Consul can take tens of seconds to serve on
	// a 2-core machine that several test processes share, so it is far above a normal start.
	readyTimeout = 2 * time.Minute
	// stopTimeout is how long Stop waits after SIGTERM before it kills the server.
	stopTimeout = 20 * time.Second
	// pauseTimeout bounds Pause's wait for the server's threads to stop. They do within
	// milliseconds, unless the machine is so loaded that they are not scheduled for long.
	pauseTimeout = 10 * time.Second
	// logTailLines is how much of a server's log a failed test prints.
	logTailLines = 60
	// startAttempts is how often a first start is tried with new ports when the old ones were
	// taken between FreePort and the server's bind.
	startAttempts = 3
)

// Server is a server process started for one test. Its fields are set by the starter and must not
// be changed.
type Server struct {
	// Endpoints are the "127.0.0.1:port" addresses of the client protocol; with WithTLS, the TLS
	// port (the plain one is then closed).
	Endpoints []string
	// TLS is a client configuration that the server accepts (trusted CA, client certificate,
	// ServerName) when WithTLS was given, else nil. Each Server has its own; clone before changing.
	TLS *tls.Config
	// CA issued the server's certificate when WithTLS was given, else nil.
	CA *CA
	// Username and Password are credentials the server accepts when WithAuth was given.
	Username, Password string
	// Token is Consul's initial management ACL token when WithAuth was given.
	Token string
	// Dir is the server's data folder. It survives Stop, Kill and Start.
	Dir string

	name       string
	bin        string
	serverCert *Cert
	args       []string
	logPath    string
	// ready returns nil once the server serves clients; it is called repeatedly.
	ready func(ctx context.Context) error

	mu   sync.Mutex
	proc *Process // nil while the server is stopped
}

// newServer makes a Server with its data and log folders and registers the clean-up that stops
// it and, when the test failed, prints the end of its log.
func newServer(t testing.TB, name string) *Server {
	t.Helper()
	s := &Server{name: name, Dir: filepath.Join(t.TempDir(), "data")}
	s.logPath = filepath.Join(filepath.Dir(s.Dir), name+".log")
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		t.Fatalf("testserver: %v", err)
	}
	// Clean-ups run last-in first-out: the server is stopped first, so the log shown includes its
	// shutdown.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testserver: last %d lines of the %s log (%s):\n%s", logTailLines, s.name, s.logPath, s.LogTail(logTailLines))
		}
	})
	t.Cleanup(func() { s.stop(syscall.SIGTERM) })
	return s
}

// launch starts the server the first time. configure picks ports and writes the configuration;
// when the server fails because a port was taken meanwhile, launch tries again with new ports.
func (s *Server) launch(t testing.TB, configure func()) {
	t.Helper()
	var err error
	for range startAttempts {
		configure()
		begin := time.Now()
		if err = s.start(t.Context()); err == nil {
			t.Logf("testserver: %s serving on %v after %v", s.name, s.Endpoints, time.Since(begin).Round(time.Millisecond))
			return
		}
		if !s.portTaken() {
			break
		}
		t.Logf("testserver: %s: a port was taken, retrying with new ports", s.name)
	}
	t.Fatalf("testserver: %v\n%s log:\n%s", err, s.name, s.LogTail(logTailLines))
}

// Start starts the server again after Stop or Kill, with the same ports, configuration and data,
// and waits until it serves.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if err := s.start(t.Context()); err != nil {
		t.Fatalf("testserver: %v\n%s log:\n%s", err, s.name, s.LogTail(logTailLines))
	}
}

// Stop stops the server with SIGTERM and waits for it to exit; a server that has not exited
// after 20s is killed. Stopping a stopped server does nothing.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGTERM)
}

// Kill kills the server with SIGKILL, as a crash would, and waits for it to exit.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	s.stop(syscall.SIGKILL)
}

// Pause freezes the server with SIGSTOP: its connections stay open but it answers nothing,
// which is how a test makes ZooKeeper sessions or Consul sessions expire. The kernel stops a
// process's threads one by one, each as it next runs, so a request made at once could still be
// answered; Pause therefore returns only once every thread has stopped (on Linux; elsewhere,
// where there is no /proc to tell, at once).
func (s *Server) Pause(t testing.TB) {
	t.Helper()
	pid := s.signal(t, syscall.SIGSTOP)
	deadline := time.Now().Add(pauseTimeout)
	for {
		done, err := stopped(pid)
		switch {
		case err != nil:
			t.Fatalf("testserver: %s: pausing: %v", s.name, err)
		case done:
			return
		case time.Now().After(deadline):
			t.Fatalf("testserver: %s still runs %v after SIGSTOP", s.name, pauseTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// Resume lets a paused server run again (SIGCONT).
func (s *Server) Resume(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGCONT)
}

// LogTail returns the last n lines of the server's log (stdout and stderr of every run).
func (s *Server) LogTail(n int) string {
	tail, err := readTail(s.logPath, 0, n)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail
}

// LogPath is the file the server's output goes to.
func (s *Server) LogPath() string { return s.logPath }

func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	if s.proc != nil {
		s.mu.Unlock()
		return fmt.Errorf("%s: Start while running", s.name)
	}
	s.appendLocked(fmt.Sprintf("%s %s: %s %s", startMarker, time.Now().Format(time.RFC3339Nano), s.bin, strings.Join(s.args, " ")))
	cmd := exec.Command(s.bin, s.args...)
	cmd.Dir = s.Dir
	proc, err := StartProcess(cmd, s.logPath)
	if err != nil {
		s.mu.Unlock()
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.proc = proc
	s.mu.Unlock()

	begin := time.Now()
	if err := s.waitReady(ctx, proc.Done()); err != nil {
		s.stop(syscall.SIGKILL)
		return fmt.Errorf("%s did not start: %w", s.name, err)
	}
	s.logf("ready after %v", time.Since(begin).Round(time.Millisecond))
	return nil
}

func (s *Server) waitReady(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		tryCtx, tryCancel := context.WithTimeout(ctx, 5*time.Second)
		last = s.ready(tryCtx)
		tryCancel()
		if last == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("it exited (last check: %w)", last)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %w", readyTimeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends sig (SIGTERM escalates to SIGKILL after stopTimeout) and waits for the process to
// exit.
func (s *Server) stop(sig syscall.Signal) {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	if proc == nil {
		return
	}
	if sig == syscall.SIGKILL {
		proc.Kill()
	} else {
		proc.Stop(stopTimeout)
	}
	s.logf("stopped (%v)", sig)
}

// signal sends sig to the running server and returns its process id.
func (s *Server) signal(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		t.Fatalf("testserver: %s is not running", s.name)
	}
	if err := s.proc.Signal(sig); err != nil {
		t.Fatalf("testserver: %s: %v", s.name, err)
	}
	s.logfLocked("%v", sig)
	return s.proc.Pid()
}

// portTaken reports whether the last run failed because it could not bind a port.
func (s *Server) portTaken() bool {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return false
	}
	if i := bytes.LastIndex(data, []byte(startMarker)); i >= 0 {
		data = data[i:]
	}
	lower := bytes.ToLower(data)
	return bytes.Contains(lower, []byte("address already in use")) || bytes.Contains(lower, []byte("bindexception"))
}

// logf appends a line to the server's log, so that the log tells what the test did to it.
func (s *Server) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logfLocked(format, args...)
}

func (s *Server) logfLocked(format string, args ...any) {
	s.appendLocked(fmt.Sprintf("=== testserver %s: %s", time.Now().Format(time.RFC3339Nano), fmt.Sprintf(format, args...)))
}

// appendLocked appends line to the server's log; the server may be writing to it at the same
// time, which O_APPEND keeps apart.
func (s *Server) appendLocked(line string) {
	f, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	defer func() { _ = f.Close() }()
	_, _ = fmt.Fprintln(f, line)
}

// startMarker begins the log of each run, so that a run's own output can be told apart.
const startMarker = "=== testserver start"
