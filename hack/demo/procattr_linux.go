package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"syscall"
)

// Environment variables through which the demo tells its own binary, started by envtest under a
// server's name, where the real server is and which process it must not outlive.
const (
	serversEnv = "KVMIRROR_DEMO_SERVERS"
	parentEnv  = "KVMIRROR_DEMO_PID"
)

// wrappedServers are the binaries envtest starts: kube-apiserver and etcd.
var wrappedServers = []string{"kube-apiserver", "etcd"}

// serverPaths returns the kube-apiserver and etcd that envtest should start. envtest starts its
// servers in their own process group but does not ask the kernel to end them with their parent,
// so a demo killed hard (SIGKILL, a test's timeout) would leave a kube-apiserver and an etcd
// running. Instead envtest starts links named after the servers that point at the demo's own
// binary; wrapServerIfAsked, running as that child, sets the parent-death signal and then
// becomes the real server with exec, which keeps the signal.
func serverPaths(assets, binDir string) (apiServer, etcd string, err error) {
	self, err := os.Executable()
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", "", err
	}
	for _, name := range wrappedServers {
		link := filepath.Join(binDir, name)
		_ = os.Remove(link)
		if err := os.Symlink(self, link); err != nil {
			return "", "", err
		}
	}
	if err := os.Setenv(serversEnv, assets); err != nil {
		return "", "", err
	}
	if err := os.Setenv(parentEnv, strconv.Itoa(os.Getpid())); err != nil {
		return "", "", err
	}
	return filepath.Join(binDir, "kube-apiserver"), filepath.Join(binDir, "etcd"), nil
}

// wrapServerIfAsked returns at once unless this process was started through a link made by
// serverPaths; then it replaces itself with the real server and never returns.
func wrapServerIfAsked() {
	assets, parent := os.Getenv(serversEnv), os.Getenv(parentEnv)
	name := filepath.Base(os.Args[0])
	if assets == "" || parent == "" || !isWrapped(name) {
		return
	}
	// The parent-death signal belongs to the thread that sets it, and exec keeps only the calling
	// thread: both must happen on one thread.
	runtime.LockOSThread()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		fmt.Fprintf(os.Stderr, "demo: %s: set the parent-death signal: %v\n", name, errno)
		os.Exit(1)
	}
	// The demo may have died between starting this process and the call above.
	if strconv.Itoa(os.Getppid()) != parent {
		os.Exit(1)
	}
	server := filepath.Join(assets, name)
	err := syscall.Exec(server, append([]string{server}, os.Args[1:]...), os.Environ())
	fmt.Fprintf(os.Stderr, "demo: exec %s: %v\n", server, err)
	os.Exit(1)
}

func isWrapped(name string) bool { return slices.Contains(wrappedServers, name) }
