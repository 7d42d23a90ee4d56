package testserver

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// stoppedHelperEnv marks the child process that TestStopped starts.
const stoppedHelperEnv = "TESTSERVER_STOPPED_HELPER"

// TestStoppedHelper only does something in TestStopped's child: it waits to be killed, in a Go
// process that has several threads, as every server has.
func TestStoppedHelper(t *testing.T) {
	if os.Getenv(stoppedHelperEnv) != "1" {
		t.Skip("runs only as TestStopped's child")
	}
	time.Sleep(time.Hour)
}

// TestStopped: stopped tells a running process from one whose every thread SIGSTOP has stopped,
// and from one that SIGCONT let run again.
func TestStopped(t *testing.T) {
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestStoppedHelper$")
	cmd.Env = append(os.Environ(), stoppedHelperEnv+"=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	expect := func(want bool, what string) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			got, err := stopped(pid)
			if err != nil {
				t.Fatal(err)
			}
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("stopped = %v 10s after %s", got, what)
			}
		}
	}
	if got, err := stopped(pid); err != nil || got {
		t.Fatalf("stopped = %v, %v for a running process", got, err)
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	expect(true, "SIGSTOP")
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	expect(false, "SIGCONT")
}
