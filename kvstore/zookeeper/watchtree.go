package zookeeper

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
)

// WatchTree keeps a copy of the subtree: every node below the directory has a data watch (its
// value) and a child watch (keys created or deleted below it), so a change at any depth fires a
// watch. On each event only the nodes concerned are read again, which also re-arms their watches;
// a node's watches are armed again only after they fired, so a long-lived WatchTree does not
// pile up watches on quiet nodes. The listing sent is built from the copy.

// WatchTree reports the keys below directory; see kvstore.Store. The channel closes when ctx
// ends, on Close, or when the Store is refused access.
func (s *Store) WatchTree(ctx context.Context, directory string, _ *kvstore.ReadOptions) (<-chan []*kvstore.KVPair, error) {
	dir, err := s.normalize(ctx, "watch tree", directory, true)
	if err != nil {
		return nil, err
	}
	t := &treeWatch{
		s: s, top: s.path(dir), dir: dir,
		out:   make(chan []*kvstore.KVPair),
		nodes: map[string]*watched{},
		stale: map[string]bool{},
	}
	below := t.top + "/"
	if t.top == "/" {
		below = "/"
	}
	t.mb = s.sess.router.subscribe(func(p string) bool { return p == t.top || strings.HasPrefix(p, below) })
	if err := s.life.Go(ctx, t.run); err != nil {
		s.sess.router.unsubscribe(t.mb)
		return nil, s.wrapErr(ctx, "watch tree", dir, err)
	}
	return t.out, nil
}

type treeWatch struct {
	s        *Store
	top, dir string // the directory's znode and key
	mb       *mailbox
	out      chan []*kvstore.KVPair
	// nodes is the copy of the subtree, top included while it exists, by znode path.
	nodes map[string]*watched
	// stale holds the nodes to read again.
	stale map[string]bool
	sent  []*kvstore.KVPair // the last listing sent; nil before the first
}

// watched is one node of the copy. The top node's data does not matter, so it has no data watch.
type watched struct {
	key       string
	data      []byte
	index     uint64
	kids      map[string]bool
	dataArmed bool
	kidsArmed bool
	// ttl, mtime and children (counting nodes that are not keys) tell when the key expires.
	ttl      time.Duration
	mtime    int64
	children int32
	// recheck is set when the key is due to expire: its data is read again, its watch kept.
	recheck bool
}

func (t *treeWatch) run(ctx context.Context) {
	defer close(t.out)
	defer t.s.sess.router.unsubscribe(t.mb)
	t.stale[t.top] = true
	for {
		err := t.refresh(ctx)
		if err != nil && !transient(err) {
			return
		}
		if err == nil && !t.send(ctx) {
			return
		}
		if !t.await(ctx, err != nil) {
			return
		}
	}
}

// refresh reads the stale nodes until none is left, or returns the first error (the nodes not
// read stay stale). Each round reads all stale nodes at once, so the first listing of a large
// tree costs a round trip per level rather than per node.
func (t *treeWatch) refresh(ctx context.Context) error {
	for len(t.stale) > 0 {
		batch := make([]reading, 0, len(t.stale))
		for path := range t.stale {
			n := t.nodes[path]
			switch {
			case n != nil:
				batch = append(batch, reading{
					path: path, wantData: !n.dataArmed || n.recheck, armed: n.dataArmed,
					wantKids: !n.kidsArmed, top: path == t.top,
				})
			case path == t.top:
				batch = append(batch, reading{path: path, wantKids: true, top: true})
			default:
				delete(t.stale, path) // dropped since it was marked
			}
		}
		readAll(ctx, t.s, batch)
		// Parents first: see apply.
		slices.SortFunc(batch, func(a, b reading) int { return cmp.Compare(len(a.path), len(b.path)) })
		var err error
		for i := range batch {
			if r := &batch[i]; r.err == nil {
				t.apply(r)
			} else if err == nil {
				err = r.err
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// reading is what refresh reads of one node: the parts whose watches are not armed, arming them.
type reading struct {
	path               string
	wantData, wantKids bool
	top                bool // the directory's node, whose creation is watched for while it is gone
	armed              bool // the data watch is armed: read the data without arming another

	data     []byte
	index    uint64
	ttl      time.Duration
	mtime    int64
	children int32
	names    []string
	gone     bool // the node does not exist
	// created is set when the top node, gone, was created before its creation was watched for.
	created bool
	err     error
}

// errNotRead marks a reading that readAll did not get to (its ctx ended).
var errNotRead = errors.New("zookeeper: node not read")

// readAll fills in the readings, in parallel.
func readAll(ctx context.Context, s *Store, batch []reading) {
	todo := make([]*reading, len(batch))
	for i := range batch {
		batch[i].err = errNotRead
		todo[i] = &batch[i]
	}
	_ = forEach(ctx, todo, func(ctx context.Context, r *reading) error {
		want := *r
		want.err = nil
		got, err := call(ctx, s.sess, func(c *zk.Conn) (reading, error) {
			got := want
			err := got.read(s, c)
			return got, err
		})
		if err != nil {
			got = want
		}
		got.err = err
		*r = got // each goroutine writes its own element
		return nil
	})
}

func (r *reading) read(s *Store, c *zk.Conn) error {
	var err error
	if r.wantData {
		read := getW(c)
		if r.armed {
			read = c.Get
		}
		// An expired key reads as gone; its deletion fires the watches of the node and its parent.
		var n znode
		if n, r.ttl, err = s.readLive(c, r.path, read); err == nil {
			r.data, r.index, r.mtime, r.children = n.data, uint64(n.stat.Mzxid), n.stat.Mtime, n.stat.NumChildren
		}
	}
	if err == nil && r.wantKids {
		r.names, _, _, err = c.ChildrenW(r.path)
		r.children = int32(len(r.names))
	}
	if errors.Is(err, zk.ErrNoNode) {
		r.gone = true
		if r.top {
			r.created, _, _, err = c.ExistsW(r.path)
			return err
		}
		return nil
	}
	return err
}

// apply records a reading in the copy.
func (t *treeWatch) apply(r *reading) {
	delete(t.stale, r.path)
	if r.gone {
		t.drop(r.path)
		if r.created {
			t.stale[r.path] = true
		}
		// If the parent still lists the node, the node came back after it was read: the
		// parent's list, read later, is right, but the new node has no watches yet. Reading the
		// parent's children again adds it.
		if p := t.nodes[parentPath(r.path)]; p != nil && !r.top && p.kids[r.path] {
			delete(p.kids, r.path)
			p.kidsArmed = false
			t.stale[parentPath(r.path)] = true
		}
		return
	}
	n := t.nodes[r.path]
	if n == nil {
		if r.path != t.top {
			return // dropped meanwhile
		}
		n = &watched{key: t.dir, dataArmed: true, kids: map[string]bool{}}
		t.nodes[r.path] = n
	}
	if r.wantData {
		n.data, n.index, n.dataArmed, n.recheck = r.data, r.index, true, false
		n.ttl, n.mtime = r.ttl, r.mtime
	}
	if r.wantData || r.wantKids {
		n.children = r.children
	}
	if r.wantKids {
		t.setKids(n, r.path, r.names)
	}
}

// setKids records the children of n read from the server, adding new ones to read and dropping
// the ones that went.
func (t *treeWatch) setKids(n *watched, path string, names []string) {
	n.kidsArmed = true
	current := make(map[string]bool, len(names))
	for _, name := range names {
		key, ok := t.s.childKey(n.key, name)
		if !ok {
			continue
		}
		kid := t.s.child(path, name)
		current[kid] = true
		if !n.kids[kid] {
			t.nodes[kid] = &watched{key: key, kids: map[string]bool{}}
			t.stale[kid] = true
		}
	}
	for kid := range n.kids {
		if !current[kid] {
			t.drop(kid)
		}
	}
	n.kids = current
}

// drop removes a node and its subtree from the copy. Their watches need no cancelling: a deleted
// node's watches have fired.
func (t *treeWatch) drop(path string) {
	if n := t.nodes[path]; n != nil {
		delete(t.nodes, path)
		for kid := range n.kids {
			t.drop(kid)
		}
	}
}

// send delivers the listing if it differs from the last one sent (the first is always sent).
func (t *treeWatch) send(ctx context.Context) bool {
	pairs := []*kvstore.KVPair{}
	for path, n := range t.nodes {
		if path != t.top && n.data != nil {
			// A copy: the receiver may change the value, which later listings share.
			pairs = append(pairs, &kvstore.KVPair{Key: n.key, Value: bytes.Clone(n.data), LastIndex: n.index})
		}
	}
	slices.SortFunc(pairs, func(a, b *kvstore.KVPair) int { return cmp.Compare(a.Key, b.Key) })
	if t.sent != nil && slices.EqualFunc(pairs, t.sent, func(a, b *kvstore.KVPair) bool {
		return a.Key == b.Key && a.LastIndex == b.LastIndex
	}) {
		return true
	}
	select {
	case t.out <- pairs:
		t.sent = pairs
		return true
	case <-ctx.Done():
	case <-t.s.life.Context().Done():
	}
	return false
}

// await waits for events, marks the nodes they concern stale, and returns once something is.
// The nearest expiry of a key marks the keys due. After a failed read, a session event or the
// retry timer also ends the wait.
func (t *treeWatch) await(ctx context.Context, failed bool) bool {
	var retry <-chan time.Time
	if failed {
		retry = t.s.sess.retryTimer()
	}
	expiry, stop := expiryTimer(t.nextExpiry())
	defer stop()
	for len(t.stale) == 0 || failed {
		select {
		case <-t.mb.wake:
		case <-retry:
			return true
		case now := <-expiry:
			t.markExpired(now)
			return true
		case <-ctx.Done():
			return false
		case <-t.s.life.Context().Done():
			return false
		}
		m := t.mb.take()
		t.mark(m)
		if failed && m.session {
			return true
		}
	}
	return true
}

// mark marks stale what m reports: the watched nodes with events, the parts of them whose
// watches fired, and everything when the session lost its watches.
func (t *treeWatch) mark(m mail) {
	if m.lost {
		for path, n := range t.nodes {
			n.dataArmed, n.kidsArmed = path == t.top, false
			t.stale[path] = true
		}
		t.stale[t.top] = true
	}
	for path, ev := range m.nodes {
		n := t.nodes[path]
		if n == nil {
			if path == t.top {
				t.stale[path] = true // created
			}
			continue
		}
		if path != t.top && ev.has(zk.EventNodeCreated, zk.EventNodeDeleted, zk.EventNodeDataChanged) {
			n.dataArmed = false
			t.stale[path] = true
		}
		if ev.has(zk.EventNodeDeleted, zk.EventNodeChildrenChanged) {
			n.kidsArmed = false
			t.stale[path] = true
		}
	}
}

// nextExpiry returns when the first key of the copy is due to expire (zero for none).
func (t *treeWatch) nextExpiry() time.Time {
	var first time.Time
	for path, n := range t.nodes {
		if path == t.top || n.data == nil {
			continue
		}
		if due := recheckAt(n.ttl, n.mtime, n.children); !due.IsZero() && (first.IsZero() || due.Before(first)) {
			first = due
		}
	}
	return first
}

// markExpired marks stale the keys due to expire by now, to read again.
func (t *treeWatch) markExpired(now time.Time) {
	for path, n := range t.nodes {
		if path == t.top || n.data == nil {
			continue
		}
		if due := recheckAt(n.ttl, n.mtime, n.children); !due.IsZero() && !due.After(now) {
			n.recheck = true
			t.stale[path] = true
		}
	}
}
