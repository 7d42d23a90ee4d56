package etcd

import (
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvmirror/kvmirror/kvstore"
)

// layout maps canonical kvstore keys to etcd keys and back, in one of the two layouts doc.go
// describes. Lock bookkeeping lives under a prefix that starts with a NUL byte: Normalize rejects
// control characters, so no user key, and no user range, can ever reach it.
type layout struct {
	// root is prepended to a canonical key to name its etcd key.
	root string
	// locks is the prefix of the lock waiter keys.
	locks string
}

var (
	// slashLayout stores "a/b" at "/a/b", the convention of etcd v2 and of tools that came from
	// it, so that the etcd v2 and v3 backends name a key alike. It is the default, and the layout
	// of every Store before the choice existed: its lock prefix must not change, or a Store of
	// an older version and one of this version would not queue for a lock together.
	slashLayout = layout{root: "/", locks: "\x00kvmirror/locks/"}
	// plainLayout stores "a/b" at "a/b", as etcdctl put and most etcd v3 libraries write it. Its
	// locks queue apart from the slash layout's: the lock "a" of one layout guards the etcd key
	// "/a", that of the other "a", two different keys.
	plainLayout = layout{root: "", locks: "\x00kvmirror/plain-locks/"}
)

// waiterSep ends the lock key inside a waiter key. NUL cannot occur in a user key, so the waiters
// of lock "a" ("…/a\x00…") never share a prefix with those of lock "a/b".
const waiterSep = "\x00"

// rangeEnd, as the end of a range, means every key from the range's start on.
const rangeEnd = "\x00"

// newLayout returns the layout cfg.KeyLayout names; empty is the slash layout.
func newLayout(cfg *kvstore.Config) (layout, error) {
	if cfg == nil {
		return slashLayout, nil
	}
	switch cfg.KeyLayout {
	case "", kvstore.KeyLayoutSlash:
		return slashLayout, nil
	case kvstore.KeyLayoutPlain:
		return plainLayout, nil
	}
	return layout{}, fmt.Errorf("etcd: %w: key layout %q: want %q or %q",
		kvstore.ErrInvalidOption, cfg.KeyLayout, kvstore.KeyLayoutSlash, kvstore.KeyLayoutPlain)
}

// userKey maps a canonical key to its etcd key.
func (l layout) userKey(canonical string) string {
	return l.root + canonical
}

// keyRange is the etcd range of keys from key, included, to end, excluded. An empty end makes
// it the single key; rangeEnd makes it every key from key on.
type keyRange struct {
	key, end string
}

// dirRanges returns the etcd ranges, ascending and disjoint, that hold every key strictly below
// the canonical directory dir ("" is the root). Below a directory, the trailing slash keeps
// "app" from matching "apple/x". In the plain layout the root is everything a canonical key can
// start with: a printable character other than "/". That leaves out the slash layout's keys
// and lock bookkeeping, which an etcd range over the whole key space would otherwise read, or
// delete.
func (l layout) dirRanges(dir string) []keyRange {
	switch {
	case dir != "":
		prefix := l.root + dir + "/"
		return []keyRange{{prefix, clientv3.GetPrefixRangeEnd(prefix)}}
	case l.root != "":
		return []keyRange{{l.root, clientv3.GetPrefixRangeEnd(l.root)}}
	}
	return []keyRange{{" ", "/"}, {"0", rangeEnd}}
}

// canonicalKey maps an etcd key back to its canonical key. It reports false for keys outside the
// layout's root, and for keys that other tools wrote in a non-canonical form ("/a//b", "/a/"):
// returning them would show one kvstore key twice.
func (l layout) canonicalKey(etcdKey []byte) (string, bool) {
	key := string(etcdKey)
	if len(key) <= len(l.root) || key[:len(l.root)] != l.root {
		return "", false
	}
	canonical := key[len(l.root):]
	if kvstore.Canonical(canonical) != canonical {
		return "", false
	}
	// In the plain layout, a key that starts with a control character lies outside the root's
	// ranges (dirRanges): lock bookkeeping, which starts with NUL, lives there. Any other key
	// that Normalize would refuse (control bytes inside, "." segments) is still returned, so
	// that a reader such as the operator can report it instead of losing it silently.
	if l.root == "" && canonical[0] < ' ' {
		return "", false
	}
	return canonical, true
}

// waiterPrefix is the etcd prefix of the waiter keys of the lock on the canonical key.
func (l layout) waiterPrefix(canonical string) string {
	return l.locks + canonical + waiterSep
}

// waiterKey names the waiter key of one contender, identified by its lease.
func (l layout) waiterKey(canonical string, lease int64) string {
	return fmt.Sprintf("%s%016x", l.waiterPrefix(canonical), lease)
}
