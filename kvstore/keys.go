package kvstore

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxKeyLength is the longest canonical key, in bytes, that any backend accepts. Backends with a
// lower limit of their own document it and return ErrInvalidKey above it.
const MaxKeyLength = 4096

// Normalize returns the canonical form of key: its '/'-separated segments, without empty ones,
// joined by single slashes ("/a//b/" becomes "a/b"). It returns ErrInvalidKey when nothing is left,
// when the key is not valid UTF-8 or holds a control character (NUL included), when a segment is
// "." or "..", or when the canonical key is longer than MaxKeyLength. These rules are the same on
// every backend, so a key valid on one is valid on all.
func Normalize(key string) (string, error) {
	canonical := Canonical(key)
	if canonical == "" {
		return "", fmt.Errorf("%w: %q is empty", ErrInvalidKey, key)
	}
	if err := validate(canonical); err != nil {
		return "", fmt.Errorf("%w: %q %s", ErrInvalidKey, truncate(key), err.Error())
	}
	return canonical, nil
}

// NormalizeDir is Normalize for a directory argument, where the root ("" or "/") is allowed and
// returned as "".
func NormalizeDir(dir string) (string, error) {
	if Canonical(dir) == "" {
		return "", nil
	}
	return Normalize(dir)
}

// Canonical strips leading, trailing and repeated slashes from key without validating it. Use it
// on keys read back from a backend; use Normalize on keys from callers.
func Canonical(key string) string {
	if !strings.Contains(key, "//") && !strings.HasPrefix(key, "/") && !strings.HasSuffix(key, "/") {
		return key
	}
	return strings.Join(strings.FieldsFunc(key, func(r rune) bool { return r == '/' }), "/")
}

// IsBelow reports whether the canonical key lies strictly below the canonical directory dir; the
// root "" holds every key. IsBelow("app", "apple/x") is false.
func IsBelow(dir, key string) bool {
	if dir == "" {
		return key != ""
	}
	return len(key) > len(dir) && key[len(dir)] == '/' && strings.HasPrefix(key, dir)
}

// Join joins canonical path elements with '/', skipping empty ones.
func Join(elems ...string) string {
	return Canonical(strings.Join(elems, "/"))
}

func validate(canonical string) error {
	if len(canonical) > MaxKeyLength {
		return fmt.Errorf("is %d bytes long, over the limit of %d", len(canonical), MaxKeyLength)
	}
	if !utf8.ValidString(canonical) {
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range canonical {
		if unicode.IsControl(r) {
			return fmt.Errorf("holds control character %U", r)
		}
	}
	for seg := range strings.SplitSeq(canonical, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("holds the relative segment %q", seg)
		}
	}
	return nil
}

func truncate(key string) string {
	const limit = 64
	if len(key) <= limit {
		return key
	}
	return key[:limit] + "..."
}
