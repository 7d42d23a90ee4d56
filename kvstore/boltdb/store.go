package boltdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

func init() { kvstore.Register("boltdb", New) }

var _ kvstore.Store = (*Store)(nil)

// Store is a kvstore.Store on one bucket of a BoltDB file. Open it with New.
type Store struct {
	f       *file
	bucket  string
	timeout time.Duration
	persist bool

	// ctx ends at Close: it stops this Store's watches and the waiting of its Lock calls. It
	// outlives every call, so it cannot come from one.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts calls in flight and goroutines, so that Close returns only when none is left
	// touching the file.
	wg sync.WaitGroup

	mu     sync.Mutex
	closed bool
	locks  map[*holding]struct{} // locks held through this Store, released by Close
}

// New opens a Store on the BoltDB file endpoints[0] (created if missing) and the bucket
// cfg.Bucket, which is required.
//
// With cfg.PersistConnection the file stays open until Close, and other processes cannot open
// it meanwhile. Without it (the default) the file is opened for each call and closed after, so
// several processes can take turns; a file another process keeps open gives an error wrapping
// kvstore.ErrUnreachable after cfg.ConnectionTimeout. Either way, every Store of this process on
// the file shares one handle, one watch notifier and one lock table.
func New(ctx context.Context, endpoints []string, cfg *kvstore.Config) (kvstore.Store, error) {
	path, bucket, err := checkConfig(endpoints, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{bucket: bucket, timeout: cfg.Timeout(), persist: cfg.PersistConnection, locks: map[*holding]struct{}{}}
	s.f = refFile(path)
	if err := s.f.ensureBuckets(ctx, s.timeout, bucket); err != nil {
		s.f.unref()
		return nil, err
	}
	if s.persist {
		if _, err := s.f.acquire(ctx, s.timeout); err != nil {
			s.f.unref()
			return nil, err
		}
	}
	s.f.start()
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

func checkConfig(endpoints []string, cfg *kvstore.Config) (path, bucket string, err error) {
	if len(endpoints) == 0 || endpoints[0] == "" {
		return "", "", fmt.Errorf("%w: boltdb needs the file path as endpoints[0]", kvstore.ErrInvalidOption)
	}
	if cfg == nil || cfg.Bucket == "" {
		return "", "", fmt.Errorf("%w: boltdb needs Config.Bucket (the bucket inside %s)", kvstore.ErrInvalidOption, endpoints[0])
	}
	if strings.HasPrefix(cfg.Bucket, "\x00") {
		return "", "", fmt.Errorf("%w: boltdb bucket %q: names starting with NUL are reserved", kvstore.ErrInvalidOption, cfg.Bucket)
	}
	path, err = fileKey(endpoints[0])
	return path, cfg.Bucket, err
}

// Close releases the Store's locks, closes its watch channels and waits for its calls and
// goroutines to end; the file is closed once no Store of this process uses it. Close is
// idempotent; every other call after it returns kvstore.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	held := s.locks
	s.locks = nil
	s.mu.Unlock()

	var errs []error
	for h := range held {
		if err := h.release(context.Background()); err != nil && !errors.Is(err, kvstore.ErrNotLocked) {
			errs = append(errs, err)
		}
	}
	s.cancel()
	s.wg.Wait()
	if s.persist {
		s.f.release()
	}
	s.f.unref()
	return errors.Join(errs...)
}

// begin admits a call unless the Store is closed; end must follow.
func (s *Store) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return kvstore.ErrClosed
	}
	s.wg.Add(1)
	return nil
}

func (s *Store) end() { s.wg.Done() }

// view runs fn in a read transaction for a call of the user's.
func (s *Store) view(ctx context.Context, fn func(*txn) error) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	return s.f.view(ctx, s.timeout, s.bucket, fn)
}

// update runs fn in a write transaction for a call of the user's.
func (s *Store) update(ctx context.Context, fn func(*txn) error) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	return s.f.update(ctx, s.timeout, s.bucket, fn)
}

// goroutine runs fn on a goroutine that Close waits for; it fails once the Store is closed.
func (s *Store) goroutine(fn func()) error {
	if err := s.begin(); err != nil {
		return err
	}
	go func() {
		defer s.end()
		fn()
	}()
	return nil
}
