package testserver

import "syscall"

// sysProcAttr puts a server in its own process group, so a Ctrl-C meant for `go test` does not
// stop it behind the test's back, and has the kernel kill it if the test process dies without
// running its clean-ups (a panic, a -timeout), so that no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
