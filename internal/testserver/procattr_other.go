//go:build unix && !linux

package testserver

import "syscall"

// sysProcAttr: only Linux can have the kernel kill a server whose test process died.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
