package controllers

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
)

// An etcd v3 Store sees the keys of one key layout only: "app/config/x" is the etcd key
// "/app/config/x" in the slash layout and "app/config/x" in the plain one, and tools disagree on
// which to write (etcdctl put writes whatever it is given). A mirror on etcd therefore reads its
// prefix in both layouts, through one Store each, and maps the merged listing: a key shows up
// whichever way it was written, and a key written both ways is a collision like any other.

// layouts returns one configuration per key layout the mirror reads: both for etcd, cfg itself
// for the other backends, which have one. The slash layout is etcd's default, so its Store is
// the one a configuration without a layout opens and it keeps cfg's pool key; the plain
// layout's key and label tell its Store apart.
func (cfg *backendConfig) layouts() []*backendConfig {
	if cfg.backend != string(v1alpha1.BackendEtcd) {
		return []*backendConfig{cfg}
	}
	slash, plain := *cfg, *cfg
	slash.store.KeyLayout = kvstore.KeyLayoutSlash
	slash.label = cfg.label + "?layout=" + kvstore.KeyLayoutSlash
	plain.store.KeyLayout = kvstore.KeyLayoutPlain
	plain.label = cfg.label + "?layout=" + kvstore.KeyLayoutPlain
	h := sha256.New()
	writeFields(h, cfg.key, "layout", kvstore.KeyLayoutPlain)
	plain.key = hex.EncodeToString(h.Sum(nil))
	return []*backendConfig{&slash, &plain}
}

// listed is one pair of a mirror's listing, with the etcd key layout it was read in; layout is
// empty for the other backends.
type listed struct {
	*kvstore.KVPair
	layout string
}

// inLayout tags each pair of one Store's listing with the Store's key layout.
func inLayout(layout string, pairs []*kvstore.KVPair) []listed {
	out := make([]listed, 0, len(pairs))
	for _, p := range pairs {
		out = append(out, listed{KVPair: p, layout: layout})
	}
	return out
}

// mergeListings merges the listings of a mirror's Stores into one, sorted by key; a key read in
// both layouts appears twice, slash layout first.
func mergeListings(listings [][]listed) []listed {
	all := slices.Concat(listings...)
	slices.SortStableFunc(all, func(a, b listed) int { return cmp.Compare(a.Key, b.Key) })
	return all
}

// etcdKey names the etcd key at which a canonical key is stored in layout, as etcdctl shows it.
func etcdKey(layout, key string) string {
	if layout == kvstore.KeyLayoutPlain {
		return key
	}
	return "/" + key
}

// layoutCollisions reports a group of pairs that map to one ConfigMap key when some were read in
// an etcd key layout: each entry names its own etcd key and layout, since the same key below the
// prefix may be listed once per layout, and the message says when that is the case.
func layoutCollisions(prefix, cmKey string, group []listed) []v1alpha1.SkippedKey {
	names := make([]string, 0, len(group))
	canonical := map[string]bool{}
	for _, p := range group {
		names = append(names, layoutName(p))
		canonical[kvstore.Canonical(p.Key)] = true
	}
	slices.Sort(names)
	others := fmt.Sprintf("%d keys (%s) map to ConfigMap key %q", len(names), strings.Join(firstN(names, 3), ", "), cmKey)
	if len(canonical) < len(group) {
		others += "; a key written both with and without a leading slash is mirrored from neither form"
	}
	out := make([]v1alpha1.SkippedKey, 0, len(group))
	for _, p := range group {
		out = append(out, v1alpha1.SkippedKey{
			Key:     displayKey(relative(prefix, p.Key)),
			Reason:  v1alpha1.SkipCollision,
			Message: "this is etcd key " + layoutName(p) + "; " + others,
		})
	}
	return out
}

// layoutName shows a pair's etcd key and the layout it was read in: "/app/x" (slash layout).
func layoutName(p listed) string {
	return cut(strconv.Quote(etcdKey(p.layout, p.Key)), maxDisplayKey) + " (" + p.layout + " layout)"
}

// layoutsNote tells, on the status of an etcd mirror, the two forms of etcd key it reads.
func layoutsNote(cfg *backendConfig, prefix string) string {
	if len(cfg.layouts()) < 2 {
		return ""
	}
	return fmt.Sprintf(", read from the etcd keys %q and %q", etcdKey(kvstore.KeyLayoutSlash, prefix)+"/...",
		etcdKey(kvstore.KeyLayoutPlain, prefix)+"/...")
}
