package boltdb

import (
	"sync"

	"github.com/kvmirror/kvmirror/kvstore"
)

// event is one committed change, published to the watches and lock waiters of every Store of
// this process on the same file.
type event struct {
	bucket string
	key    string
	// pair is the new pair; nil means the key was deleted (or expired).
	pair *kvstore.KVPair
	// index is the file's counter at this change; deletions take an index too, so a watch can
	// tell which events its initial read already covers.
	index uint64
	// resync says another process changed the file: anything may differ, re-read.
	resync bool
}

// notifier fans committed events out to subscriptions. Publishing never blocks: each
// subscription queues what it has not taken yet, because a Watch must deliver every write even
// to a slow receiver, and a writer must not wait for any receiver.
type notifier struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

// subscription receives the events its match accepts. ready holds a token while the queue is
// not empty.
type subscription struct {
	n     *notifier
	match func(*event) bool
	ready chan struct{}

	mu    sync.Mutex
	queue []event
}

func (n *notifier) subscribe(match func(*event) bool) *subscription {
	s := &subscription{n: n, match: match, ready: make(chan struct{}, 1)}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.subs == nil {
		n.subs = map[*subscription]struct{}{}
	}
	n.subs[s] = struct{}{}
	return s
}

// publish hands events to every matching subscription, in order. Callers publish under the
// file's write mutex, so every subscription sees events in index order.
func (n *notifier) publish(events []event) {
	if len(events) == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for s := range n.subs {
		s.offer(events)
	}
}

func (s *subscription) offer(events []event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	added := false
	for i := range events {
		if events[i].resync || s.match(&events[i]) {
			s.queue = append(s.queue, events[i])
			added = true
		}
	}
	if added {
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
}

// take empties the queue and returns what it held.
func (s *subscription) take() []event {
	s.mu.Lock()
	defer s.mu.Unlock()
	events := s.queue
	s.queue = nil
	return events
}

func (s *subscription) cancel() {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	delete(s.n.subs, s)
}
