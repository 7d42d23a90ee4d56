// Package leadership_test runs real manager processes against real API servers and a real
// election store, and checks the leadership promises: one leader, fast hand-over, fencing before
// the lock can expire, and one election across clusters.
package leadership_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// managerBin is the manager binary under test, built once for the package.
var managerBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kvmirror-manager")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	managerBin = filepath.Join(dir, "manager")
	build := exec.Command("go", "build", "-o", managerBin, "github.com/kvmirror/kvmirror/cmd/manager")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the manager:", err)
		return 1
	}
	return m.Run()
}
