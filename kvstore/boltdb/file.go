package boltdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/kvmirror/kvmirror/kvstore"
)

// file is what every Store of this process on one BoltDB file shares: the open handle, the
// write mutex, the notifier that carries watch and lock events, and the expiry sweeper.
//
// The handle must be shared, not opened per Store: bolt takes an flock on each open, and flock
// conflicts between two opens in one process as it does between processes.
type file struct {
	path    string
	refs    int  // Stores using this file; guarded by filesMu
	started bool // the sweeper runs; guarded by filesMu

	// handle guards db and users. It is a one-slot semaphore rather than a mutex so that a call
	// waiting behind another's open (stuck on a file another process holds) gives up at its own
	// timeout instead of adding the other's to it.
	handle chan struct{}
	db     *bolt.DB
	users  int // persistent Stores plus calls in flight; the file is closed when it drops to 0

	// writeMu orders commit and publish together, so that events reach subscribers in index
	// order. known is the counter after the last commit seen in this process.
	writeMu sync.Mutex
	known   uint64

	notifier
	kick   chan struct{} // wakes the sweeper when a deadline was written
	cancel context.CancelFunc
	done   chan struct{}
}

var (
	filesMu sync.Mutex
	files   = map[string]*file{}
)

// fileKey names a file the same way however it was reached (relative path, symlink), so that
// Stores on one file always share one entry.
func fileKey(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("boltdb: file %q: %w", path, err)
	}
	if resolved, err := filepath.EvalSymlinks(abs); err == nil {
		return resolved, nil
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(dir, filepath.Base(abs)), nil
	}
	return abs, nil
}

// refFile returns the shared entry for path, creating it for the first Store.
func refFile(path string) *file {
	filesMu.Lock()
	defer filesMu.Unlock()
	f := files[path]
	if f == nil {
		f = &file{path: path, handle: make(chan struct{}, 1), kick: make(chan struct{}, 1), done: make(chan struct{})}
		files[path] = f
	}
	f.refs++
	return f
}

// start starts the sweeper, once. New calls it only after the file proved usable, so that a
// failed New does not wait for a sweeper stuck on the same unusable file.
func (f *file) start() {
	filesMu.Lock()
	defer filesMu.Unlock()
	if f.started {
		return
	}
	f.started = true
	var ctx context.Context
	ctx, f.cancel = context.WithCancel(context.Background())
	go f.sweep(ctx)
}

// unref drops a Store's reference; the last one stops the sweeper and waits for it.
func (f *file) unref() {
	filesMu.Lock()
	f.refs--
	last := f.refs == 0
	if last {
		delete(files, f.path)
	}
	started := f.started
	filesMu.Unlock()
	if last && started {
		f.cancel()
		<-f.done
	}
}

// acquire returns the open handle, opening the file if nobody in this process has it open.
// Another process holding the file makes bolt wait for its flock; the whole call waits at most
// timeout (or until ctx's deadline, if sooner). Every successful acquire is paired with a
// release.
func (f *file) acquire(ctx context.Context, timeout time.Duration) (*bolt.DB, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltdb: %w", err)
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case f.handle <- struct{}{}:
	case <-timer.C:
		return nil, openError(ctx, f.path, timeout, berrors.ErrTimeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("boltdb: %w", ctx.Err())
	}
	defer func() { <-f.handle }()
	if f.db == nil {
		db, err := bolt.Open(f.path, 0o600, &bolt.Options{Timeout: max(time.Until(deadline), time.Millisecond)})
		if err != nil {
			return nil, openError(ctx, f.path, timeout, err)
		}
		f.db = db
	}
	f.users++
	return f.db, nil
}

// release ends a use of the handle and closes the file after the last one. A Close error is
// dropped: every transaction has committed (and synced) or rolled back by then, so none can lose
// data, and the flock is gone with the descriptor either way.
func (f *file) release() {
	f.handle <- struct{}{}
	defer func() { <-f.handle }()
	f.users--
	if f.users == 0 {
		_ = f.db.Close()
		f.db = nil
	}
}

func openError(ctx context.Context, path string, timeout time.Duration, err error) error {
	if errors.Is(err, berrors.ErrTimeout) {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: boltdb file %s is held by another process: %w", kvstore.ErrUnreachable, path, ctx.Err())
		}
		return fmt.Errorf("%w: boltdb file %s is held by another process (waited %s)", kvstore.ErrUnreachable, path, timeout)
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%w: boltdb file %s: %w", kvstore.ErrPermissionDenied, path, err)
	}
	return fmt.Errorf("%w: boltdb file %s: %w", kvstore.ErrUnreachable, path, err)
}

// view runs fn in a read transaction on bucket.
func (f *file) view(ctx context.Context, timeout time.Duration, bucket string, fn func(*txn) error) error {
	db, err := f.acquire(ctx, timeout)
	if err != nil {
		return err
	}
	defer f.release()
	return db.View(func(tx *bolt.Tx) error {
		t, err := newTxn(tx, bucket)
		if err != nil {
			return err
		}
		return fn(t)
	})
}

// update runs fn in a write transaction on bucket, then publishes its events. A counter that
// moved since this process last committed means another process wrote: a resync event goes
// first, so watches re-read what they cannot know.
func (f *file) update(ctx context.Context, timeout time.Duration, bucket string, fn func(*txn) error) error {
	db, err := f.acquire(ctx, timeout)
	if err != nil {
		return err
	}
	defer f.release()
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	var t *txn
	var counter uint64
	err = db.Update(func(tx *bolt.Tx) error {
		if t, err = newTxn(tx, bucket); err != nil {
			return err
		}
		if t.counter() != f.known {
			t.events = append(t.events, event{resync: true})
		}
		err := fn(t)
		counter = t.counter() // the transaction is gone after Update
		return err
	})
	if err != nil {
		return err
	}
	f.committed(counter, t.events, t.deadlines)
	return nil
}

// committed records the counter after a commit and publishes its events; kick wakes the sweeper
// for a new deadline. The caller holds writeMu.
func (f *file) committed(counter uint64, events []event, kick bool) {
	f.known = counter
	f.publish(events)
	if kick {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
}

// ensureBuckets creates bucket and its bookkeeping buckets; New calls it once per Store.
func (f *file) ensureBuckets(ctx context.Context, timeout time.Duration, bucket string) error {
	db, err := f.acquire(ctx, timeout)
	if err != nil {
		return err
	}
	defer f.release()
	return db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte(bucket)); err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		own, err := meta.CreateBucketIfNotExists(bucketsBucket)
		if err == nil {
			own, err = own.CreateBucketIfNotExists([]byte(bucket))
		}
		if err == nil {
			_, err = own.CreateBucketIfNotExists(expiryBucket)
		}
		if err == nil {
			_, err = own.CreateBucketIfNotExists(locksBucket)
		}
		return err
	})
}
