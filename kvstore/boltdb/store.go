package boltdb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/lifecycle"
)

func init() { kvstore.Register("boltdb", New) }

var _ kvstore.Store = (*Store)(nil)

// Store is a kvstore.Store on one bucket of a BoltDB file. Open it with New.
type Store struct {
	f       *file
	bucket  string
	timeout time.Duration
	persist bool

	// life ends at Close: it stops this Store's watches and the waiting of its Lock calls, and
	// releases the locks held through this Store. Its workers are the calls in flight and the
	// goroutines, so that Close returns only when none is left touching the file.
	life *lifecycle.Life
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
	if err := cfg.RefuseKeyLayout("boltdb"); err != nil {
		return nil, err
	}
	path, bucket, err := checkConfig(endpoints, cfg)
	if err != nil {
		return nil, err
	}
	s := &Store{bucket: bucket, timeout: cfg.Timeout(), persist: cfg.PersistConnection}
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
	s.life = lifecycle.New()
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
	return s.life.Close(func() error {
		if s.persist {
			s.f.release()
		}
		s.f.unref()
		return nil
	})
}

// view runs fn in a read transaction for a call of the user's.
func (s *Store) view(ctx context.Context, fn func(*txn) error) error {
	if !s.life.Track() {
		return kvstore.ErrClosed
	}
	defer s.life.Done()
	return s.f.view(ctx, s.timeout, s.bucket, fn)
}

// update runs fn in a write transaction for a call of the user's.
func (s *Store) update(ctx context.Context, fn func(*txn) error) error {
	if !s.life.Track() {
		return kvstore.ErrClosed
	}
	defer s.life.Done()
	return s.f.update(ctx, s.timeout, s.bucket, fn)
}
