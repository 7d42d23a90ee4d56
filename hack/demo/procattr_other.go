//go:build unix && !linux

package main

import (
	"path/filepath"
	"syscall"
)

// serverPaths: without a parent-death signal there is nothing to wrap; envtest runs the servers
// from the cache directly.
func serverPaths(assets, _ string) (apiServer, etcd string, err error) {
	return filepath.Join(assets, "kube-apiserver"), filepath.Join(assets, "etcd"), nil
}

func wrapServerIfAsked() {}
