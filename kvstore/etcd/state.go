package etcd

import (
	"slices"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/pairs"
)

// treeState is the state of a WatchTree: its own copy of the tree, and the listing still to
// deliver. A listing is built only when the tree changed, and replaces one the receiver has not
// taken yet, so a slow receiver gets fewer, newer listings.
type treeState struct {
	keys  layout
	pairs map[string]*kvstore.KVPair
	// pending is the listing to deliver; hasPending tells an empty listing from none.
	pending    []*kvstore.KVPair
	hasPending bool
	// sent identifies the last listing delivered, so that a resync that changed nothing
	// delivers nothing. sentAny is false until the first listing went out.
	sent    []keyIndex
	sentAny bool
}

// keyIndex identifies one version of one key.
type keyIndex struct {
	key   string
	index uint64
}

func (t *treeState) reset(kvs []*mvccpb.KeyValue) {
	t.pairs = make(map[string]*kvstore.KVPair, len(kvs))
	for _, p := range t.keys.newPairs(kvs) {
		t.pairs[p.Key] = p
	}
	t.refresh()
}

func (t *treeState) apply(events []*clientv3.Event) {
	for _, ev := range events {
		canonical, ok := t.keys.canonicalKey(ev.Kv.Key)
		switch {
		case !ok:
		case ev.Type == clientv3.EventTypeDelete:
			delete(t.pairs, canonical)
		default:
			t.pairs[canonical] = newPair(canonical, ev.Kv)
		}
	}
	t.refresh()
}

// refresh makes the current tree the pending listing, unless the receiver already has it.
func (t *treeState) refresh() {
	listing := make([]*kvstore.KVPair, 0, len(t.pairs))
	for _, p := range t.pairs {
		listing = append(listing, pairs.Clone(p))
	}
	slices.SortFunc(listing, func(a, b *kvstore.KVPair) int { return strings.Compare(a.Key, b.Key) })
	if t.sentAny && sameListing(listing, t.sent) {
		t.pending, t.hasPending = nil, false
		return
	}
	t.pending, t.hasPending = listing, true
}

func (t *treeState) next() ([]*kvstore.KVPair, bool) {
	return t.pending, t.hasPending
}

func (t *treeState) delivered() {
	t.sent = t.sent[:0]
	for _, p := range t.pending {
		t.sent = append(t.sent, keyIndex{p.Key, p.LastIndex})
	}
	t.sentAny = true
	t.pending, t.hasPending = nil, false
}

func sameListing(listing []*kvstore.KVPair, sent []keyIndex) bool {
	return slices.EqualFunc(listing, sent, func(p *kvstore.KVPair, k keyIndex) bool {
		return p.Key == k.key && p.LastIndex == k.index
	})
}

// keyState is the state of a Watch: the pairs still to deliver, one per write, in order.
type keyState struct {
	key     string
	present bool   // whether the last value queued is a pair, not a deletion
	index   uint64 // LastIndex of the last pair queued
	queue   []*kvstore.KVPair
}

func (k *keyState) reset(kvs []*mvccpb.KeyValue) {
	switch {
	case len(kvs) == 0:
		if k.present {
			k.push(nil)
		}
	case !k.present || uint64(kvs[0].ModRevision) > k.index:
		k.push(newPair(k.key, kvs[0]))
	}
}

func (k *keyState) apply(events []*clientv3.Event) {
	for _, ev := range events {
		if ev.Type == clientv3.EventTypeDelete {
			k.push(nil)
		} else {
			k.push(newPair(k.key, ev.Kv))
		}
	}
}

func (k *keyState) push(p *kvstore.KVPair) {
	k.present = p != nil
	if p != nil {
		k.index = p.LastIndex
	}
	k.queue = append(k.queue, p)
}

func (k *keyState) next() (*kvstore.KVPair, bool) {
	if len(k.queue) == 0 {
		return nil, false
	}
	return k.queue[0], true
}

func (k *keyState) delivered() {
	k.queue[0] = nil
	k.queue = k.queue[1:]
}
