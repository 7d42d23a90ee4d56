// Package pairs compares and copies kvstore.KVPair values and listings the same way in every
// backend: a watch decides whether a listing changed, and copies what it hands out, with these.
package pairs

import (
	"bytes"
	"slices"

	"github.com/kvmirror/kvmirror/kvstore"
)

// Clone copies p, its value included, so that a receiver modifying what it got cannot alter a
// Store's state. Clone(nil) is nil.
func Clone(p *kvstore.KVPair) *kvstore.KVPair {
	if p == nil {
		return nil
	}
	return &kvstore.KVPair{Key: p.Key, Value: bytes.Clone(p.Value), LastIndex: p.LastIndex}
}

// SameWrites reports whether two listings name the same writes: the same keys, in the same
// order, at the same indexes. An index names one write of one key, so a write of the same value
// is a change; values are not compared.
func SameWrites(a, b []*kvstore.KVPair) bool {
	return slices.EqualFunc(a, b, func(x, y *kvstore.KVPair) bool {
		return x.Key == y.Key && x.LastIndex == y.LastIndex
	})
}

// Equal reports whether two listings hold the same pairs: keys, indexes and values. A nil entry
// equals only a nil entry, so that a listing a broken Store returned compares unequal instead of
// crashing its reader.
func Equal(a, b []*kvstore.KVPair) bool {
	return slices.EqualFunc(a, b, func(x, y *kvstore.KVPair) bool {
		if x == nil || y == nil {
			return x == y
		}
		return x.Key == y.Key && x.LastIndex == y.LastIndex && bytes.Equal(x.Value, y.Value)
	})
}
