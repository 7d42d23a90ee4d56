package testserver

import "syscall"

// SysProcAttr is for every child process a test or a local tool starts (servers, managers, the
// demo): it puts the child in its own process group, so a Ctrl-C meant for `go test` or the tool
// does not stop it behind its parent's back (the parent stops its children in order), and has
// the kernel kill it if the parent dies without running its clean-ups (a panic, a -timeout), so
// that no child outlives it.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
