package etcdv2

import (
	"encoding/base64"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/kvmirror/kvmirror/kvstore"
)

// The v2 keys API has files (a value) and directories (children), never both in one node,
// while kvstore lets "a" hold a value and "a/b" exist too. Every key is therefore a directory,
// and its value lives in a file of that directory named leafName:
//
//	key "a"       ->  file /a/=
//	key "a/b"     ->  file /a/b/=
//	key "x/=y"    ->  file /x/==y/=      (escaped segment)
//	key "_tmp/k"  ->  file /=_tmp/k/=    (escaped segment)
//	lock "a/b"    ->  in-order files in /_kvmirror/locks/a/b/=/ (hidden)
//	key "app/db"  <-  plain file /app/db  (written by another v2 client; see keyOfFile)
//
// Segments that begin with escapeChar or with '_' are stored with one escapeChar in front, so
// no stored segment is ever leafName (kvstore segments are never empty) and none begins with
// '_'. The second matters because etcd hides nodes whose name begins with '_' from directory
// listings and from recursive watches of their parents: user keys must never be hidden, and the
// lock bookkeeping under hiddenRoot always is, so List and WatchTree never see it.
const (
	leafName   = "="
	escapeChar = '='
	hiddenRoot = "/_kvmirror"
	lockRoot   = hiddenRoot + "/locks"
)

// nodePath returns the v2 directory of a canonical key; the root "" is "/".
func nodePath(canonical string) string {
	if canonical == "" {
		return "/"
	}
	var b strings.Builder
	b.Grow(len(canonical) + 8)
	for seg := range strings.SplitSeq(canonical, "/") {
		b.WriteByte('/')
		if seg[0] == escapeChar || seg[0] == '_' {
			b.WriteByte(escapeChar)
		}
		b.WriteString(seg)
	}
	return b.String()
}

// leafPath returns the v2 file that holds the value of a canonical key.
func leafPath(canonical string) string {
	return nodePath(canonical) + "/" + leafName
}

// queuePath returns the hidden v2 directory where the waiters of the lock on a canonical key
// queue up. Like a value, it is named leafName, so that the queues of "a" and "a/b" never nest.
func queuePath(canonical string) string {
	return lockRoot + nodePath(canonical) + "/" + leafName
}

// A plain v2 file, written by another v2 client (etcdctl set /app/db/host x, confd's users),
// is a key too: the file at nodePath(k) holds the value of key k, wherever a kvmirror Store
// would have put k's directory. A node is a file or a directory, never both, so a key is held
// either way, never both at once, and reading it is one request more only when it is plain.
// Mapping both kinds of file through the same segment escaping keeps the mapping one to one:
// Get, Put and List of a key all reach the node that List reports it from. The price is that a
// plain name beginning with '=' is read through the escaping too ("==x" is the key "=x", "=x"
// is no key), and a plain name beginning with '_' is no key (etcd hides it from listings and
// watches anyway).

// keyOfFile returns the canonical key whose value is the v2 file at p, of either kind, and false
// when p holds no key: a hidden node, a name no escaped segment can be, or the root's "/=".
func keyOfFile(p string) (string, bool) {
	trimmed := strings.Trim(p, "/")
	if dir, name := path.Split(trimmed); name == leafName {
		// kvmirror's layout: the key is the directory that holds the value file.
		trimmed = strings.TrimSuffix(dir, "/")
	}
	if trimmed == "" {
		return "", false
	}
	segs := strings.Split(trimmed, "/")
	for i, seg := range segs {
		key, ok := keySegment(seg)
		if !ok {
			return "", false
		}
		segs[i] = key
	}
	key := strings.Join(segs, "/")
	if _, err := kvstore.Normalize(key); err != nil {
		// A name etcd accepts but kvstore does not (a control character, "..", too long).
		return "", false
	}
	return key, true
}

// keySegment returns the key segment that nodePath stores as seg, and false when it stores none
// that way. Only segments beginning with escapeChar or '_' are escaped, so a stored segment that
// begins with escapeChar and goes on with anything else, leafName itself included, is no key's:
// reading "=x" as "x" would give "x" a second node, and two nodes could then claim one key.
func keySegment(seg string) (string, bool) {
	switch {
	case seg == "" || seg[0] == '_':
		return "", false
	case seg[0] != escapeChar:
		return seg, true
	case len(seg) > 1 && (seg[1] == escapeChar || seg[1] == '_'):
		return seg[1:], true
	}
	return "", false
}

// parentDir returns the v2 directory that holds p, "/" for a node at the top.
func parentDir(p string) string {
	return path.Dir(p)
}

// binaryTag starts every stored value that is not kept as it is. etcd answers in JSON, and
// JSON strings cannot carry invalid UTF-8 (etcd replaces it with U+FFFD), so such values are
// stored as binaryTag followed by their base64 encoding. Text values, the common case, stay
// readable with any v2 tool; the rare text value that itself begins with NUL is encoded too,
// so that decoding is never ambiguous.
const binaryTag = "\x00"

// encodeValue returns the v2 form of a value.
func encodeValue(value []byte) string {
	if utf8.Valid(value) && !strings.HasPrefix(string(value), binaryTag) {
		return string(value)
	}
	return binaryTag + base64.StdEncoding.EncodeToString(value)
}

// decodeValue returns the value stored as s; never nil.
func decodeValue(s string) []byte {
	if rest, ok := strings.CutPrefix(s, binaryTag); ok {
		if value, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return value
		}
	}
	return append([]byte{}, s...)
}
