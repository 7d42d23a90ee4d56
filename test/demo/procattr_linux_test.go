package demo_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// checkNothingLeft fails the test if a process still names the demo's work folder on its command
// line (the managers' --kubeconfig, the API server's --cert-dir, etcd's --data-dir): the demo must
// stop everything it started. A child killed by its parent-death signal can take a moment to go,
// hence the wait.
func checkNothingLeft(t *testing.T, work string) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if left = processesNaming(work); len(left) == 0 {
			return
		}
	}
	t.Errorf("processes left running after the demo exited:\n%s", strings.Join(left, "\n"))
}

func processesNaming(s string) []string {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var found []string
	for _, p := range cmdlines {
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte(s)) {
			continue
		}
		found = append(found, filepath.Base(filepath.Dir(p))+": "+string(bytes.ReplaceAll(data, []byte{0}, []byte{' '})))
	}
	return found
}
