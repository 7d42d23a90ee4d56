package zookeeper

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kvmirror/kvmirror/kvstore"
)

// ZooKeeper refuses znode names holding characters that kvstore keys may hold: the ranges below
// (checked on Java's UTF-16 chars, so every character outside the Basic Multilingual Plane, an
// emoji for instance, arrives as two refused surrogates). kvstore promises that a key valid on one
// backend is valid on all, so such characters are escaped as "%{HEX}", HEX being the code point
// in upper-case hexadecimal without leading zeros.
//
// '%' itself is escaped ("%{25}") only where it is followed by text that reads as an escape, and
// the top-level name "zookeeper", which the server reserves for itself, is stored as
// "%{7A}ookeeper" when the Store works at the server's root. Every other name is stored as it is,
// so data written by other ZooKeeper clients reads back under the keys one expects. A znode whose
// name the encoder would never produce (one holding "%{25}" not followed by an escape, say) is
// not a kvmirror key and stays invisible: the lock bookkeeping node is named so.

// reservedName is the top-level node ZooKeeper keeps for itself (quotas, configuration).
const reservedName = "zookeeper"

// forbidden reports whether ZooKeeper refuses r in a znode name.
func forbidden(r rune) bool {
	return r <= 0x1f || (r >= 0x7f && r <= 0x9f) || (r >= 0xd800 && r <= 0xf8ff) || r >= 0xfff0
}

// decodable reports whether an escape of r may appear in a name: exactly the runes the encoder
// escapes.
func decodable(r rune) bool {
	return forbidden(r) || r == '%' || r == 'z'
}

// escape returns the escape of r.
func escape(r rune) string {
	return "%{" + strings.ToUpper(strconv.FormatInt(int64(r), 16)) + "}"
}

// readEscape reads an escape at the start of s ("%{HEX}"), returning the rune and the escape's
// length, or ok false. Only the canonical form the encoder writes is accepted.
func readEscape(s string) (r rune, n int, ok bool) {
	if !strings.HasPrefix(s, "%{") {
		return 0, 0, false
	}
	end := strings.IndexByte(s, '}')
	if end < 3 || end > 8 {
		return 0, 0, false
	}
	hex := s[2:end]
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil || hex != strings.ToUpper(hex) || hex[0] == '0' || v > unicode.MaxRune {
		return 0, 0, false
	}
	if r = rune(v); !decodable(r) || !utf8.ValidRune(r) {
		return 0, 0, false
	}
	return r, end + 1, true
}

// encodeName returns the znode name of one key segment; top is true for a segment directly below
// the server's root.
func encodeName(seg string, top bool) string {
	if top && seg == reservedName {
		return escape('z') + seg[1:]
	}
	var b strings.Builder
	for i, r := range seg {
		switch {
		case forbidden(r):
			b.WriteString(escape(r))
		case r == '%':
			if _, _, ok := readEscape("%" + seg[i+1:]); ok {
				b.WriteString(escape('%'))
			} else {
				b.WriteByte('%')
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// decodeName returns the key segment a znode name stands for, and false when the name is not one
// encodeName produces (such nodes are not keys).
func decodeName(name string, top bool) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(name); {
		if r, n, ok := readEscape(name[i:]); ok {
			b.WriteRune(r)
			i += n
			continue
		}
		b.WriteByte(name[i])
		i++
	}
	seg := b.String()
	if !validSegment(seg) || encodeName(seg, top) != name {
		return "", false
	}
	return seg, true
}

// validSegment reports whether seg may be a segment of a kvstore key.
func validSegment(seg string) bool {
	if seg == "" || seg == "." || seg == ".." || strings.ContainsRune(seg, '/') || !utf8.ValidString(seg) {
		return false
	}
	return strings.IndexFunc(seg, unicode.IsControl) < 0
}

// layout maps canonical keys to znode paths below a root node.
type layout struct {
	// root is "/" (the server's root) or a chroot such as "/app", never ending in '/'.
	root string
}

// path returns the znode of canonical key; the empty key is the root.
func (l layout) path(key string) string {
	if key == "" {
		return l.root
	}
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = encodeName(seg, i == 0 && l.root == "/")
	}
	return l.child(l.root, strings.Join(segs, "/"))
}

// child joins a znode path and a relative path.
func (layout) child(parent, rel string) string {
	if parent == "/" {
		return "/" + rel
	}
	return parent + "/" + rel
}

// childKey returns the key of the node named name below the node of key parent, and false when
// that node is not a kvmirror key (the reserved node, lock bookkeeping, foreign names).
func (l layout) childKey(parent, name string) (string, bool) {
	seg, ok := decodeName(name, parent == "" && l.root == "/")
	if !ok {
		return "", false
	}
	return kvstore.Join(parent, seg), true
}

// parent returns the parent znode of path, or "" for the root or a node above it.
func (l layout) parent(path string) string {
	if path == l.root || !strings.HasPrefix(path, l.root) {
		return ""
	}
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/"
	}
	return path[:i]
}

// parseRoot validates a chroot taken from an endpoint ("host:2181/app/x" gives "/app/x").
func parseRoot(chroot string) (string, error) {
	canonical := kvstore.Canonical(chroot)
	if canonical == "" {
		return "/", nil
	}
	for seg := range strings.SplitSeq(canonical, "/") {
		if !validSegment(seg) || strings.IndexFunc(seg, forbidden) >= 0 {
			return "", fmt.Errorf("zookeeper: %w: chroot %q holds a name ZooKeeper refuses (%q)", kvstore.ErrInvalidOption, chroot, seg)
		}
	}
	return "/" + canonical, nil
}
