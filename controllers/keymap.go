package controllers

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
)

// MaxConfigMapBytes is the most data a ConfigMap may hold: the API server rejects a ConfigMap
// whose keys and values, in data and binaryData together, add up to more than 1 MiB.
const MaxConfigMapBytes = 1 << 20

// The mapping rule, documented on TargetSpec.Separator and here in full:
//
//  1. The store key, in kvstore's canonical form, must lie strictly below the prefix and be a key
//     kvstore itself accepts (valid UTF-8, no control character, no "." or ".." segment);
//     otherwise it is skipped as InvalidKey. Such keys can only come from other clients.
//  2. The prefix and the '/' after it are stripped, and every remaining '/' becomes the
//     separator: "app/db/host" under "app" becomes "db.host".
//  3. The result must be a valid ConfigMap key (validation.IsConfigMapKey: [-._a-zA-Z0-9]+, at
//     most 253 bytes, not "." nor "..", not starting with ".."); otherwise InvalidConfigMapKey.
//  4. When several store keys give one ConfigMap key ("a/b" and "a.b" with "."), every one of
//     them is skipped as Collision: picking a winner would be a guess, and the value a workload
//     read would change meaning with which key was written last.
//
// The rule depends on nothing but its inputs, so it is the same on every reconcile and every
// replica.

// mapKey maps one canonical store key below prefix (canonical, non-empty) to its ConfigMap key,
// or returns the reason it cannot be mapped and a message saying why.
func mapKey(prefix, key string, sep v1alpha1.Separator) (string, v1alpha1.SkipReason, string) {
	if !kvstore.IsBelow(prefix, key) {
		return "", v1alpha1.SkipInvalidKey, "is not below the prefix"
	}
	if _, err := kvstore.Normalize(key); err != nil {
		return "", v1alpha1.SkipInvalidKey, "is not a valid kvstore key (control character, invalid UTF-8, '.' or '..' segment, or too long)"
	}
	rel := key[len(prefix):]
	if prefix != "" {
		rel = rel[1:]
	}
	cmKey := strings.ReplaceAll(rel, "/", string(sep))
	if errs := validation.IsConfigMapKey(cmKey); len(errs) > 0 {
		return "", v1alpha1.SkipInvalidConfigMapKey, "maps to a ConfigMap key that " + strings.Join(errs, "; ")
	}
	return cmKey, "", ""
}

// mirrored is the content a ConfigMap should have for one listing of the prefix.
type mirrored struct {
	Data       map[string]string
	BinaryData map[string][]byte
	// Bytes counts keys and values the way the API server does against MaxConfigMapBytes.
	Bytes int64
	// Keys is the number of keys in Data and BinaryData.
	Keys int
	// MaxIndex is the highest LastIndex among all listed pairs, mapped or not.
	MaxIndex uint64
	// Skipped lists every key left out, sorted by key.
	Skipped []v1alpha1.SkippedKey
}

// mapPairs applies the mapping rule to a listing. prefix must be canonical. UTF-8 values go to
// Data and the others to BinaryData. The result does not depend on the order of pairs. A key
// listed in both etcd key layouts is a collision with itself.
func mapPairs(prefix string, pairs []listed, sep v1alpha1.Separator) *mirrored {
	out := &mirrored{Data: map[string]string{}, BinaryData: map[string][]byte{}}
	byCMKey := map[string][]listed{}
	for _, p := range pairs {
		if p.KVPair == nil {
			continue
		}
		out.MaxIndex = max(out.MaxIndex, p.LastIndex)
		// Keys come back canonical from kvstore; canonicalising again costs little and makes the
		// rule hold for any Store.
		cmKey, reason, msg := mapKey(prefix, kvstore.Canonical(p.Key), sep)
		if reason != "" {
			out.Skipped = append(out.Skipped, v1alpha1.SkippedKey{Key: displayKey(relative(prefix, p.Key)), Reason: reason, Message: msg})
			continue
		}
		byCMKey[cmKey] = append(byCMKey[cmKey], p)
	}
	for _, cmKey := range slices.Sorted(maps.Keys(byCMKey)) {
		group := byCMKey[cmKey]
		if len(group) > 1 {
			out.Skipped = append(out.Skipped, collisions(prefix, cmKey, group)...)
			continue
		}
		value := group[0].Value
		if utf8.Valid(value) {
			out.Data[cmKey] = string(value)
		} else {
			out.BinaryData[cmKey] = value
		}
		out.Bytes += int64(len(cmKey) + len(value))
		out.Keys++
	}
	slices.SortFunc(out.Skipped, func(a, b v1alpha1.SkippedKey) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.Message, b.Message))
	})
	return out
}

func collisions(prefix, cmKey string, group []listed) []v1alpha1.SkippedKey {
	if slices.ContainsFunc(group, func(p listed) bool { return p.layout != "" }) {
		return layoutCollisions(prefix, cmKey, group)
	}
	keys := make([]string, 0, len(group))
	for _, p := range group {
		keys = append(keys, displayKey(relative(prefix, p.Key)))
	}
	slices.Sort(keys)
	out := make([]v1alpha1.SkippedKey, 0, len(group))
	for _, k := range keys {
		out = append(out, v1alpha1.SkippedKey{
			Key:    k,
			Reason: v1alpha1.SkipCollision,
			Message: fmt.Sprintf("%d keys (%s) map to ConfigMap key %q", len(keys),
				strings.Join(firstN(keys, 3), ", "), cmKey),
		})
	}
	return out
}

// relative strips the prefix from a key as the Store returned it, so that the status shows the
// part of the key that failed to map, as stored: "x/" and "x" collide, and both are shown.
func relative(prefix, key string) string {
	key = strings.TrimLeft(key, "/")
	if prefix != "" && strings.HasPrefix(key, prefix+"/") {
		return key[len(prefix)+1:]
	}
	return key
}

// maxDisplayKey bounds, in bytes, a key shown on the status: keys may be 4 KiB and there are up
// to MaxSkippedKeys of them.
const maxDisplayKey = 256

// displayKey makes a key safe and short enough for the status and events: a key that is not
// printable UTF-8 is Go-quoted (so control bytes show as escapes, never raw), and a long one is cut.
func displayKey(key string) string {
	if !isPrintable(key) {
		key = strconv.Quote(key)
	}
	return cut(key, maxDisplayKey)
}

func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(slices.Clone(s[:n]), "...")
}
