package testserver

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kvmirror/kvmirror/kvstore/internal/chans"
)

// Process is a child process started by StartProcess: a server, a manager replica, any program a
// test or a local tool runs beside itself. Its output goes to a log file, it runs in its own
// process group, and the kernel kills it if its parent dies (see SysProcAttr).
//
// StartProcess starts a goroutine that waits for the process; it ends when the process exits.
// Whoever starts a Process therefore ends it, with Stop or Kill, or waits for Done.
type Process struct {
	cmd      *exec.Cmd
	logPath  string
	logStart int64         // where this run's output begins in the log
	done     chan struct{} // closed once the process has been waited for
	exitErr  error         // what exec.Cmd.Wait returned; valid once done is closed
	exitedAt time.Time     // valid once done is closed

	mu     sync.Mutex
	paused bool // the last signal sent was SIGSTOP
}

// StartProcess starts cmd with its standard output and error appended to the file logPath,
// created if needed: a program started again keeps its earlier runs in the log. It sets cmd's
// Stdout, Stderr and SysProcAttr; the caller sets the rest (Dir, Env).
func StartProcess(cmd *exec.Cmd, logPath string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = log.Close() }() // the child has its own descriptor
	p := &Process{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	if p.logStart, err = log.Seek(0, io.SeekEnd); err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = SysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.exitErr = cmd.Wait()
		p.exitedAt = time.Now()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process. After SIGSTOP, Stop sends SIGCONT too, since a stopped
// process does not act on SIGTERM until it runs again.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	}
	return nil
}

// Done is closed once the process has exited and been waited for.
func (p *Process) Done() <-chan struct{} { return p.done }

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool { return !chans.Closed(p.done) }

// ExitErr is how the process ended, as exec.Cmd.Wait says: nil for exit status 0, an
// *exec.ExitError otherwise. It is nil while the process runs.
func (p *Process) ExitErr() error {
	if p.Running() {
		return nil
	}
	return p.exitErr
}

// ExitedAt is when the process was seen to exit; the zero time while it runs.
func (p *Process) ExitedAt() time.Time {
	if p.Running() {
		return time.Time{}
	}
	return p.exitedAt
}

// Stop sends SIGTERM and waits for the process to exit; a process still running after timeout
// is killed. Stopping a process that has exited does nothing.
func (p *Process) Stop(timeout time.Duration) {
	p.mu.Lock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if p.paused {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		p.paused = false
	}
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
	}
}

// Kill kills the process with SIGKILL, as a crash would, and waits for it to exit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// LogPath is the file the process's output goes to.
func (p *Process) LogPath() string { return p.logPath }

// LogTail returns the last n lines this run of the process wrote to its log.
func (p *Process) LogTail(n int) (string, error) { return readTail(p.logPath, p.logStart, n) }

// readTail returns the last n lines of the file at path from byte offset from on.
func readTail(path string, from int64, n int) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	data = data[min(from, int64(len(data))):]
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n"), nil
}
