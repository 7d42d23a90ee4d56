package zookeeper

import (
	"sync"

	"github.com/go-zookeeper/zk"
)

// ZooKeeper watches are one-shot and per session: whichever call armed a watch on a path, the
// server fires it once for the session, and go-zookeeper hands every event to one callback
// before anything else. The router receives that callback and copies each event into the
// mailboxes of the watches, lock waiters and lock monitors that care about the path. The callback
// must never block go-zookeeper's receive loop, so a mailbox only records what happened (which
// paths, which kinds of event, whether the session changed) and wakes its owner; the owner then
// re-reads the server, which is the only way to learn a node's state after a ZooKeeper event.

// eventSet holds kinds of node event (zk.EventNodeCreated ... zk.EventNodeChildrenChanged).
type eventSet uint8

func (e eventSet) has(types ...zk.EventType) bool {
	for _, t := range types {
		if e&(1<<t) != 0 {
			return true
		}
	}
	return false
}

// router delivers a session's events to the mailboxes subscribed to them.
type router struct {
	mu    sync.Mutex
	boxes map[*mailbox]struct{}
}

// dispatch is go-zookeeper's event callback.
func (r *router) dispatch(ev zk.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for mb := range r.boxes {
		mb.offer(ev)
	}
}

// subscribe returns a mailbox receiving session events and the node events of paths that match
// accepts (none if match is nil). Call unsubscribe when done.
func (r *router) subscribe(match func(path string) bool) *mailbox {
	mb := &mailbox{match: match, wake: make(chan struct{}, 1), nodes: map[string]eventSet{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.boxes == nil {
		r.boxes = map[*mailbox]struct{}{}
	}
	r.boxes[mb] = struct{}{}
	return mb
}

func (r *router) unsubscribe(mb *mailbox) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.boxes, mb)
}

// mailbox accumulates the events of one subscriber until it takes them.
type mailbox struct {
	match func(path string) bool
	// wake holds a token while something is waiting to be taken.
	wake chan struct{}

	mu    sync.Mutex
	nodes map[string]eventSet
	// lost is set when the server dropped the session's watches (the session expired): every
	// watch must be armed again.
	lost bool
	// session is set on any change of the session's state; down when the connection was lost
	// (even if it came back since).
	session, down bool
}

// mail is what a mailbox held when it was taken.
type mail struct {
	nodes         map[string]eventSet
	lost          bool
	session, down bool
}

func (mb *mailbox) offer(ev zk.Event) {
	mb.mu.Lock()
	switch ev.Type {
	case zk.EventSession:
		mb.session = true
		mb.lost = mb.lost || ev.State == zk.StateExpired
		mb.down = mb.down || ev.State == zk.StateDisconnected || ev.State == zk.StateExpired
	case zk.EventNotWatching:
		mb.lost = true
	default:
		if mb.match == nil || !mb.match(ev.Path) {
			mb.mu.Unlock()
			return
		}
		mb.nodes[ev.Path] |= 1 << ev.Type
	}
	mb.mu.Unlock()
	select {
	case mb.wake <- struct{}{}:
	default:
	}
}

// take empties the mailbox.
func (mb *mailbox) take() mail {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	m := mail{nodes: mb.nodes, lost: mb.lost, session: mb.session, down: mb.down}
	mb.nodes, mb.lost, mb.session, mb.down = map[string]eventSet{}, false, false, false
	return m
}
