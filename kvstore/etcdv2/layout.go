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

// keyOfLeaf returns the canonical key whose value is the v2 file at p, and false when p is not
// such a file: a node of another layout (written by another v2 client), or a hidden one.
func keyOfLeaf(p string) (string, bool) {
	dir, name := path.Split(p)
	if name != leafName {
		return "", false
	}
	segs := strings.Split(strings.Trim(dir, "/"), "/")
	for i, seg := range segs {
		switch {
		case seg == "" || seg[0] == '_':
			return "", false
		case seg[0] == escapeChar:
			if len(seg) == 1 {
				return "", false
			}
			segs[i] = seg[1:]
		}
	}
	key := strings.Join(segs, "/")
	if _, err := kvstore.Normalize(key); err != nil {
		return "", false
	}
	return key, true
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
