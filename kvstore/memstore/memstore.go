package memstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/lifecycle"
)

// Backend is the shared state every Store of it sees: the server.
type Backend struct {
	mu      sync.Mutex
	index   uint64
	data    map[string]*entry
	log     []change      // every change, in order; watchers keep a cursor into it
	changed chan struct{} // closed and replaced on every change: a broadcast
	locks   map[string]*locker
}

type entry struct {
	value  []byte
	index  uint64
	expiry *time.Timer
}

// change is one write (pair set) or deletion (pair nil) of key.
type change struct {
	key  string
	pair *kvstore.KVPair
}

// New returns an empty Backend.
func New() *Backend {
	return &Backend{data: map[string]*entry{}, changed: make(chan struct{}), locks: map[string]*locker{}}
}

// Close stops the Backend's TTL timers, so that none fires after a test ended.
func (b *Backend) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.data {
		if e.expiry != nil {
			e.expiry.Stop()
		}
	}
}

// Open returns a new client of the Backend.
func (b *Backend) Open() *Store {
	s := &Store{b: b, life: lifecycle.New(), lockers: map[*locker]struct{}{}}
	// The Store's locks go when it closes, as a client's session would. Once life has ended,
	// no Lock acquires (it checks under b.mu), so none can slip past this release.
	_ = s.life.Hold(s, func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		for l := range s.lockers {
			if b.locks[l.key] == l {
				b.dropLocked(l)
			}
		}
		return nil
	})
	return s
}

func (b *Backend) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *Backend) pairLocked(key string) *kvstore.KVPair {
	e := b.data[key]
	if e == nil {
		return nil
	}
	return &kvstore.KVPair{Key: key, Value: append([]byte{}, e.value...), LastIndex: e.index}
}

// setLocked writes key; a positive ttl arms an expiry that deletes exactly this version.
func (b *Backend) setLocked(key string, value []byte, ttl time.Duration) *kvstore.KVPair {
	if old := b.data[key]; old != nil && old.expiry != nil {
		old.expiry.Stop()
	}
	b.index++
	e := &entry{value: append([]byte{}, value...), index: b.index}
	if ttl > 0 {
		index := e.index
		e.expiry = time.AfterFunc(ttl, func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if cur := b.data[key]; cur != nil && cur.index == index {
				b.removeLocked(key)
			}
		})
	}
	b.data[key] = e
	pair := b.pairLocked(key)
	b.log = append(b.log, change{key: key, pair: pair})
	b.notifyLocked()
	return pair
}

// removeLocked deletes key; a lock held on it is lost, as on a real server.
func (b *Backend) removeLocked(key string) {
	e := b.data[key]
	if e == nil {
		return
	}
	if e.expiry != nil {
		e.expiry.Stop()
	}
	delete(b.data, key)
	b.log = append(b.log, change{key: key})
	if l := b.locks[key]; l != nil {
		b.releaseLocked(l)
	}
	b.notifyLocked()
}

func (b *Backend) listLocked(dir string) []*kvstore.KVPair {
	pairs := []*kvstore.KVPair{}
	for key := range b.data {
		if kvstore.IsBelow(dir, key) {
			pairs = append(pairs, b.pairLocked(key))
		}
	}
	slices.SortFunc(pairs, func(x, y *kvstore.KVPair) int {
		switch {
		case x.Key < y.Key:
			return -1
		case x.Key > y.Key:
			return 1
		}
		return 0
	})
	return pairs
}

// Store is one client of a Backend.
type Store struct {
	b *Backend
	// life ends at Close: it ends watches and lock waits, releases the Store's locks, and
	// waits for the watch and lock-expiry goroutines.
	life    *lifecycle.Life
	lockers map[*locker]struct{} // guarded by b.mu
}

var _ kvstore.Store = (*Store)(nil)

// normalize is the common prologue of every call: closed Store, ended ctx, invalid key.
func (s *Store) normalize(ctx context.Context, key string) (string, error) {
	if err := s.check(ctx); err != nil {
		return "", err
	}
	return kvstore.Normalize(key)
}

// normalizeDir is normalize for a directory, where the root is allowed.
func (s *Store) normalizeDir(ctx context.Context, dir string) (string, error) {
	if err := s.check(ctx); err != nil {
		return "", err
	}
	return kvstore.NormalizeDir(dir)
}

func (s *Store) check(ctx context.Context) error {
	if s.life.Ended() {
		return kvstore.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	return nil
}

// Put implements kvstore.Store.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts *kvstore.WriteOptions) error {
	key, err := s.normalize(ctx, key)
	if err != nil {
		return err
	}
	ttl, err := kvstore.CheckWrite(opts)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.setLocked(key, value, ttl)
	return nil
}

// Get implements kvstore.Store.
func (s *Store) Get(ctx context.Context, key string, _ *kvstore.ReadOptions) (*kvstore.KVPair, error) {
	key, err := s.normalize(ctx, key)
	if err != nil {
		return nil, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if pair := s.b.pairLocked(key); pair != nil {
		return pair, nil
	}
	return nil, fmt.Errorf("%w: %q", kvstore.ErrKeyNotFound, key)
}

// Delete implements kvstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	key, err := s.normalize(ctx, key)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if s.b.data[key] == nil {
		return fmt.Errorf("%w: %q", kvstore.ErrKeyNotFound, key)
	}
	s.b.removeLocked(key)
	return nil
}

// Exists implements kvstore.Store.
func (s *Store) Exists(ctx context.Context, key string, _ *kvstore.ReadOptions) (bool, error) {
	key, err := s.normalize(ctx, key)
	if err != nil {
		return false, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	return s.b.data[key] != nil, nil
}

// List implements kvstore.Store.
func (s *Store) List(ctx context.Context, dir string, _ *kvstore.ReadOptions) ([]*kvstore.KVPair, error) {
	dir, err := s.normalizeDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	pairs := s.b.listLocked(dir)
	if len(pairs) == 0 && (dir == "" || s.b.data[dir] == nil) {
		return nil, fmt.Errorf("%w: nothing at or below %q", kvstore.ErrKeyNotFound, dir)
	}
	return pairs, nil
}

// DeleteTree implements kvstore.Store.
func (s *Store) DeleteTree(ctx context.Context, dir string) error {
	dir, err := s.normalizeDir(ctx, dir)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	for _, p := range s.b.listLocked(dir) {
		s.b.removeLocked(p.Key)
	}
	if dir != "" {
		s.b.removeLocked(dir)
	}
	return nil
}

// AtomicPut implements kvstore.Store.
func (s *Store) AtomicPut(ctx context.Context, key string, value []byte, previous *kvstore.KVPair, opts *kvstore.WriteOptions) (bool, *kvstore.KVPair, error) {
	key, err := s.normalize(ctx, key)
	if err != nil {
		return false, nil, err
	}
	ttl, err := kvstore.CheckWrite(opts)
	if err != nil {
		return false, nil, err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	cur := s.b.data[key]
	switch {
	case previous == nil && cur != nil:
		return false, nil, fmt.Errorf("%w: %q", kvstore.ErrKeyExists, key)
	case previous != nil && cur == nil:
		return false, nil, fmt.Errorf("%w: %q", kvstore.ErrKeyNotFound, key)
	case previous != nil && cur.index != previous.LastIndex:
		return false, nil, fmt.Errorf("%w: %q", kvstore.ErrKeyModified, key)
	}
	return true, s.b.setLocked(key, value, ttl), nil
}

// AtomicDelete implements kvstore.Store.
func (s *Store) AtomicDelete(ctx context.Context, key string, previous *kvstore.KVPair) (bool, error) {
	key, err := s.normalize(ctx, key)
	if err != nil {
		return false, err
	}
	if previous == nil {
		return false, kvstore.ErrPreviousNotSpecified
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	cur := s.b.data[key]
	switch {
	case cur == nil:
		return false, fmt.Errorf("%w: %q", kvstore.ErrKeyNotFound, key)
	case cur.index != previous.LastIndex:
		return false, fmt.Errorf("%w: %q", kvstore.ErrKeyModified, key)
	}
	s.b.removeLocked(key)
	return true, nil
}

// Close implements kvstore.Store: it releases the Store's locks, ends its watches and waits for
// its goroutines.
func (s *Store) Close() error {
	return s.life.Close(nil)
}
