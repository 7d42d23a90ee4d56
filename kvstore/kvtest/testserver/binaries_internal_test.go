package testserver

import (
	"path/filepath"
	"strings"
	"testing"
)

// BinDir must find the folder hack/test-deps.sh fills, by the same rule.
func TestBinDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	cases := []struct{ cache, xdg, want string }{
		{"/c", "/x", "/c/bin"},
		{"", "/x", "/x/kvmirror/bin"},
		{"", "", filepath.Join(home, ".cache/kvmirror/bin")},
	}
	for _, tc := range cases {
		t.Setenv(cacheEnv, tc.cache)
		t.Setenv("XDG_CACHE_HOME", tc.xdg)
		if got := BinDir(); got != tc.want {
			t.Errorf("KVMIRROR_CACHE=%q XDG_CACHE_HOME=%q: BinDir() = %q, want %q", tc.cache, tc.xdg, got, tc.want)
		}
	}
}

func TestMissingBinaryError(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "etcd")
	writeFile(t, notExec, []byte("#!/bin/sh\n"))
	err := MissingBinaries(filepath.Join(dir, "consul"), notExec, dir)
	if err == nil {
		t.Fatal("no error for missing binaries")
	}
	for _, want := range []string{"consul", "etcd (not executable)", "(is a directory)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	if err := MissingBinaries("/bin/sh"); err != nil {
		t.Errorf("/bin/sh: %v", err)
	}
}
