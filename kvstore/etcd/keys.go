package etcd

import (
	"fmt"
	"strings"

	"github.com/kvmirror/kvmirror/kvstore"
)

// The key layout, documented in doc.go. User keys live under "/", the convention of etcd v2 and
// of most tools that write configuration into etcd, so that the etcd v2 and v3 backends name a
// key alike. Lock bookkeeping lives under lockPrefix, which starts with a NUL byte: Normalize
// rejects control characters, so no user key, and no range over "/", can ever reach it.
const (
	userRoot   = "/"
	lockPrefix = "\x00kvmirror/locks/"
	// waiterSep ends the lock key inside a waiter key. NUL cannot occur in a user key, so the
	// waiters of lock "a" ("…/a\x00…") never share a prefix with those of lock "a/b".
	waiterSep = "\x00"
)

// userKey maps a canonical key to its etcd key: "a/b" is stored at "/a/b".
func userKey(canonical string) string {
	return userRoot + canonical
}

// dirPrefix is the etcd prefix of every key strictly below the canonical directory dir ("" is
// the root). The trailing slash keeps "app" from matching "apple/x".
func dirPrefix(dir string) string {
	if dir == "" {
		return userRoot
	}
	return userRoot + dir + "/"
}

// canonicalKey maps an etcd key back to its canonical key. It reports false for keys outside the
// user root and for keys that other tools wrote in a non-canonical form ("/a//b", "/a/"):
// returning them would show one kvstore key twice.
func canonicalKey(etcdKey []byte) (string, bool) {
	key := string(etcdKey)
	if !strings.HasPrefix(key, userRoot) {
		return "", false
	}
	canonical := key[len(userRoot):]
	if canonical == "" || kvstore.Canonical(canonical) != canonical {
		return "", false
	}
	return canonical, true
}

// waiterPrefix is the etcd prefix of the waiter keys of the lock on the canonical key.
func waiterPrefix(canonical string) string {
	return lockPrefix + canonical + waiterSep
}

// waiterKey names the waiter key of one contender, identified by its lease.
func waiterKey(canonical string, lease int64) string {
	return fmt.Sprintf("%s%016x", waiterPrefix(canonical), lease)
}
