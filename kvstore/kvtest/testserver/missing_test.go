package testserver_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// helperEnv marks the child process that TestMissingBinary starts.
const helperEnv = "TESTSERVER_MISSING_HELPER"

// TestMissingBinaryHelper only does something in TestMissingBinary's child process: it starts
// etcd, whose binary the child cannot find.
func TestMissingBinaryHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("runs only as TestMissingBinary's child")
	}
	testserver.Etcd(t)
	t.Log("etcd started, which it must not")
}

// TestMissingBinary runs this test binary again with an empty cache and checks both outcomes of
// a missing server binary: a failure naming it and the install command in CI and under
// `make test`, a loud skip otherwise.
func TestMissingBinary(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	base := []string{helperEnv + "=1", "KVMIRROR_CACHE=" + cache}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "CI" && name != "KVMIRROR_REQUIRE_SERVERS" && name != "KVMIRROR_CACHE" {
			base = append(base, kv)
		}
	}
	cases := []struct {
		name     string
		env      string
		wantFail bool
		want     []string
	}{
		{"CI", "CI=true", true, []string{"--- FAIL", cache + "/bin/etcd-3.7.3/etcd", "run `make test-deps`"}},
		{"make test", "KVMIRROR_REQUIRE_SERVERS=1", true, []string{"--- FAIL", "etcd-3.7.3/etcd", "make test-deps"}},
		{"by hand", "CI=", false, []string{"--- SKIP", "SKIPPED, NOT TESTED", "etcd-3.7.3/etcd", "make test-deps"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMissingBinaryHelper$", "-test.v")
			cmd.Env = append(append([]string{}, base...), tc.env)
			out, err := cmd.CombinedOutput()
			if failed := err != nil; failed != tc.wantFail {
				t.Errorf("failed = %v (%v), want %v", failed, err, tc.wantFail)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
