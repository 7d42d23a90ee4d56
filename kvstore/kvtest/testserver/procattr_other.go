//go:build unix && !linux

package testserver

import "syscall"

// SysProcAttr: only Linux can have the kernel kill a child whose parent died; elsewhere a parent
// killed hard can leave its children running.
func SysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
