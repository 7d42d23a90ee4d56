package testserver_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// termExit is the status the test program exits with on SIGTERM, so that a test can tell a
// process that acted on SIGTERM from one that was killed.
const termExit = 3

// startShell starts a shell that logs "started", then runs until SIGTERM, on which it logs
// "term" and exits with termExit.
func startShell(t *testing.T, logPath string) *testserver.Process {
	t.Helper()
	script := fmt.Sprintf(`trap 'echo term; exit %d' TERM; echo started; while :; do sleep 0.05; done`, termExit)
	p, err := testserver.StartProcess(exec.Command("/bin/sh", "-c", script), logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for tail, _ := p.LogTail(1); tail != "started"; tail, _ = p.LogTail(1) {
		if time.Now().After(deadline) {
			t.Fatalf("the shell did not log that it started; log tail %q", tail)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// expectExit fails unless p has exited with status code; -1 means killed by a signal.
func expectExit(t *testing.T, p *testserver.Process, code int) {
	t.Helper()
	if p.Running() {
		t.Fatal("Running after the process ended")
	}
	var exit *exec.ExitError
	if !errors.As(p.ExitErr(), &exit) || exit.ExitCode() != code {
		t.Errorf("ExitErr = %v, want exit code %d", p.ExitErr(), code)
	}
	if p.ExitedAt().IsZero() {
		t.Error("ExitedAt is zero after the process ended")
	}
}

// TestProcessLogAndStop: the output goes to the log after what earlier runs wrote, LogTail shows
// only this run's, and Stop ends the process with SIGTERM.
func TestProcessLogAndStop(t *testing.T) {
	t.Parallel()
	logPath := filepath.Join(t.TempDir(), "shell.log")
	if err := os.WriteFile(logPath, []byte("earlier run\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startShell(t, logPath)
	if p.LogPath() != logPath {
		t.Errorf("LogPath = %q, want %q", p.LogPath(), logPath)
	}
	if tail, err := p.LogTail(10); tail != "started" || err != nil {
		t.Errorf("LogTail(10) = %q, %v; want only this run's output", tail, err)
	}
	if p.ExitErr() != nil || !p.ExitedAt().IsZero() {
		t.Errorf("while running: ExitErr = %v, ExitedAt = %v; want nil and zero", p.ExitErr(), p.ExitedAt())
	}
	p.Stop(time.Minute)
	expectExit(t, p, termExit)
	data, err := os.ReadFile(logPath)
	if err != nil || string(data) != "earlier run\nstarted\nterm\n" {
		t.Errorf("log = %q, %v; want the earlier run's line, then this run's", data, err)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done is not closed after Stop")
	}
	p.Stop(time.Minute) // stopping an ended process does nothing
}

// TestProcessStopPaused: Stop lets a process stopped by SIGSTOP run again, so that it acts on
// SIGTERM instead of being killed after the timeout.
func TestProcessStopPaused(t *testing.T) {
	t.Parallel()
	p := startShell(t, filepath.Join(t.TempDir(), "shell.log"))
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	p.Stop(time.Minute)
	expectExit(t, p, termExit)
}

// TestProcessKill: Kill ends the process with SIGKILL, which it cannot act on.
func TestProcessKill(t *testing.T) {
	t.Parallel()
	p := startShell(t, filepath.Join(t.TempDir(), "shell.log"))
	p.Kill()
	expectExit(t, p, -1)
	if tail, _ := p.LogTail(10); strings.Contains(tail, "term") {
		t.Errorf("the killed process acted on a signal; log %q", tail)
	}
}

// TestStartProcessFails: a missing program or log folder is an error, and nothing runs.
func TestStartProcessFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := testserver.StartProcess(exec.Command(filepath.Join(dir, "missing")), filepath.Join(dir, "log")); err == nil {
		t.Error("StartProcess of a missing program succeeded")
	}
	if _, err := testserver.StartProcess(exec.Command("/bin/sh", "-c", "exit 0"), filepath.Join(dir, "no", "log")); err == nil {
		t.Error("StartProcess with a log in a missing folder succeeded")
	}
}
