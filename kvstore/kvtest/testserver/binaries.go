package testserver

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Versions of the servers hack/test-deps.sh builds into the cache. They must match that script:
// the folder names below are derived from them.
const (
	EtcdVersion   = "3.7.3"
	ConsulVersion = "1.13.9"
)

// Paths of the servers Debian installs (hack/test-deps.sh installs the packages).
const (
	debianEtcd      = "/usr/bin/etcd" // etcd-server 3.4, the last line that serves the v2 API
	javaBin         = "/usr/bin/java"
	zooKeeperJar    = "/usr/share/java/zookeeper.jar"
	debianJavaLibs  = "/usr/share/java"
	installCommand  = "make test-deps"
	requireEnv      = "KVMIRROR_REQUIRE_SERVERS"
	cacheEnv        = "KVMIRROR_CACHE"
	skipBannerWidth = 78
)

// BinDir returns the folder where hack/test-deps.sh caches the server binaries it builds:
// $KVMIRROR_CACHE/bin, or ${XDG_CACHE_HOME:-$HOME/.cache}/kvmirror/bin. An empty variable counts
// as unset, as in the script.
func BinDir() string {
	cache := os.Getenv(cacheEnv)
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				home = os.TempDir()
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "kvmirror")
	}
	return filepath.Join(cache, "bin")
}

// EtcdBinary is the path of the etcd 3.7 binary the v3 tests run.
func EtcdBinary() string { return filepath.Join(BinDir(), "etcd-"+EtcdVersion, "etcd") }

// ConsulBinary is the path of the Consul binary.
func ConsulBinary() string { return filepath.Join(BinDir(), "consul-"+ConsulVersion, "consul") }

// ServersRequired reports whether a missing server binary fails the test instead of skipping it:
// in CI (CI=true) and under `make test` (KVMIRROR_REQUIRE_SERVERS=1).
func ServersRequired() bool {
	return os.Getenv("CI") == "true" || os.Getenv(requireEnv) == "1"
}

// MissingBinaries returns an error naming every path in paths that is not an executable file (or,
// for jars, a readable file), or nil when all are there.
func MissingBinaries(paths ...string) error {
	var missing []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		switch {
		case err != nil:
			missing = append(missing, p)
		case fi.IsDir():
			missing = append(missing, p+" (is a directory)")
		case filepath.Ext(p) != ".jar" && fi.Mode()&0o111 == 0:
			missing = append(missing, p+" (not executable)")
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%v missing", missing)
}

// RequireBinaries stops the test when a binary it needs is missing: a failure where servers are
// required, otherwise a skip that says loudly that nothing was tested. what names the server or
// tool for the message.
func RequireBinaries(t testing.TB, what string, paths ...string) {
	t.Helper()
	err := MissingBinaries(paths...)
	if err == nil {
		return
	}
	msg := fmt.Sprintf("testserver: cannot start %s: %v; run `%s` (hack/test-deps.sh) to install the test servers",
		what, err, installCommand)
	if ServersRequired() {
		t.Fatal(msg)
	}
	banner := strings.Repeat("!", skipBannerWidth)
	t.Skipf("\n%s\nSKIPPED, NOT TESTED: %s.\nThis skip is allowed only when running tests by hand; "+
		"with CI=true or %s=1 it is a failure.\n%s", banner, msg, requireEnv, banner)
}
