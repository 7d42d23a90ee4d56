//go:build unix && !linux

package main

import (
	"path/filepath"
	"syscall"
)

// procAttr: only Linux can have the kernel end a child whose parent died; elsewhere a demo killed
// hard can leave its servers running.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// serverPaths: without a parent-death signal there is nothing to wrap; envtest runs the servers
// from the cache directly.
func serverPaths(assets, _ string) (apiServer, etcd string, err error) {
	return filepath.Join(assets, "kube-apiserver"), filepath.Join(assets, "etcd"), nil
}

func wrapServerIfAsked() {}
