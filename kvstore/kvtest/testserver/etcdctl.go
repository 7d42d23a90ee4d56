package testserver

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// EtcdctlBinary is the etcdctl of the etcd release Etcd runs, built beside it by make test-deps.
func EtcdctlBinary() string { return filepath.Join(filepath.Dir(EtcdBinary()), "etcdctl") }

// Etcdctl runs etcdctl with args against endpoints and returns what it printed; a failure fails
// the test with etcdctl's own message. Tests of data that other tools wrote use it to write and
// read keys exactly as etcd's users do.
func Etcdctl(t testing.TB, endpoints []string, args ...string) string {
	t.Helper()
	RequireBinaries(t, "etcdctl "+EtcdVersion, EtcdctlBinary())
	cmd := exec.CommandContext(t.Context(), EtcdctlBinary(), append([]string{"--endpoints=" + strings.Join(endpoints, ",")}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("etcdctl %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
