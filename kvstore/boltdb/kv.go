package boltdb

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kvmirror/kvmirror/kvstore"
)

// maxValueSize keeps a record (header plus value) within what bolt accepts.
const maxValueSize = bolt.MaxValueSize - recordHeader

// Put writes value at key; see kvstore.Store. A TTL is stored as a deadline in the file, so it
// holds across restarts and for every process sharing the file.
func (s *Store) Put(ctx context.Context, key string, value []byte, opts *kvstore.WriteOptions) error {
	key, ttl, err := checkWrite(key, value, opts)
	if err != nil {
		return err
	}
	return s.update(ctx, func(t *txn) error {
		_, err := t.put(key, value, deadline(t.now, ttl))
		return err
	})
}

// Get returns the pair at key; see kvstore.Store.
func (s *Store) Get(ctx context.Context, key string, _ *kvstore.ReadOptions) (*kvstore.KVPair, error) {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return nil, err
	}
	var pair *kvstore.KVPair
	err = s.view(ctx, func(t *txn) error {
		r, ok, err := t.get(key)
		if err == nil && !ok {
			err = fmt.Errorf("%w: %q", kvstore.ErrKeyNotFound, key)
		}
		pair = &kvstore.KVPair{Key: key, Value: r.value, LastIndex: r.index}
		return err
	})
	if err != nil {
		return nil, err
	}
	return pair, nil
}

// Delete removes key; see kvstore.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return err
	}
	return s.update(ctx, func(t *txn) error {
		if err := t.expire(key); err != nil {
			return err
		}
		r, ok, err := t.get(key)
		if err == nil && !ok {
			err = fmt.Errorf("%w: %q", kvstore.ErrKeyNotFound, key)
		}
		if err != nil {
			return err
		}
		return t.drop(key, r)
	})
}

// Exists reports whether key exists; see kvstore.Store.
func (s *Store) Exists(ctx context.Context, key string, _ *kvstore.ReadOptions) (bool, error) {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return false, err
	}
	var ok bool
	err = s.view(ctx, func(t *txn) error {
		_, ok, err = t.get(key)
		return err
	})
	return ok, err
}

// List returns the pairs below directory; see kvstore.Store. The bucket is sorted by key, so
// one cursor walk from "directory/" yields them in order.
func (s *Store) List(ctx context.Context, directory string, _ *kvstore.ReadOptions) ([]*kvstore.KVPair, error) {
	dir, err := kvstore.NormalizeDir(directory)
	if err != nil {
		return nil, err
	}
	var pairs []*kvstore.KVPair
	err = s.view(ctx, func(t *txn) error {
		var self bool
		pairs, self, err = t.list(dir)
		if err == nil && len(pairs) == 0 && !self {
			err = fmt.Errorf("%w: nothing at or below %q", kvstore.ErrKeyNotFound, dir)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return pairs, nil
}

// DeleteTree removes directory and everything below it; see kvstore.Store. Each removed key
// takes its own index and event, as if deleted one by one, so a Watch on any of them hears it.
func (s *Store) DeleteTree(ctx context.Context, directory string) error {
	dir, err := kvstore.NormalizeDir(directory)
	if err != nil {
		return err
	}
	return s.update(ctx, func(t *txn) error {
		keys, records := []string{}, []record{}
		collect := func(key string, r record) { keys, records = append(keys, key), append(records, r) }
		if dir != "" {
			r, ok, err := t.raw(dir)
			if err != nil {
				return err
			}
			if ok {
				collect(dir, r)
			}
		}
		if err := t.scan(dir, collect); err != nil {
			return err
		}
		for i, key := range keys {
			if err := t.drop(key, records[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// AtomicPut writes value at key if previous is still current; see kvstore.Store.
func (s *Store) AtomicPut(ctx context.Context, key string, value []byte, previous *kvstore.KVPair, opts *kvstore.WriteOptions) (bool, *kvstore.KVPair, error) {
	key, ttl, err := checkWrite(key, value, opts)
	if err != nil {
		return false, nil, err
	}
	var pair *kvstore.KVPair
	err = s.update(ctx, func(t *txn) error {
		if err := t.expire(key); err != nil {
			return err
		}
		if err := compare(t, key, previous); err != nil {
			return err
		}
		pair, err = t.put(key, value, deadline(t.now, ttl))
		return err
	})
	if err != nil {
		return false, nil, err
	}
	return true, pair, nil
}

// AtomicDelete removes key if previous is still current; see kvstore.Store.
func (s *Store) AtomicDelete(ctx context.Context, key string, previous *kvstore.KVPair) (bool, error) {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return false, err
	}
	if previous == nil {
		return false, fmt.Errorf("%w: AtomicDelete(%q)", kvstore.ErrPreviousNotSpecified, key)
	}
	err = s.update(ctx, func(t *txn) error {
		if err := t.expire(key); err != nil {
			return err
		}
		if err := compare(t, key, previous); err != nil {
			return err
		}
		r, _, err := t.get(key)
		if err != nil {
			return err
		}
		return t.drop(key, r)
	})
	return err == nil, err
}

// compare checks key against the pair the caller last saw (nil: the caller expects no key).
func compare(t *txn, key string, previous *kvstore.KVPair) error {
	r, ok, err := t.get(key)
	switch {
	case err != nil:
		return err
	case previous == nil && ok:
		return fmt.Errorf("%w: %q", kvstore.ErrKeyExists, key)
	case previous == nil:
		return nil
	case !ok:
		return fmt.Errorf("%w: %q", kvstore.ErrKeyNotFound, key)
	case r.index != previous.LastIndex:
		return fmt.Errorf("%w: %q is at index %d, not %d", kvstore.ErrKeyModified, key, r.index, previous.LastIndex)
	}
	return nil
}

// checkWrite validates a write before anything touches the file.
func checkWrite(key string, value []byte, opts *kvstore.WriteOptions) (string, time.Duration, error) {
	key, err := kvstore.Normalize(key)
	if err != nil {
		return "", 0, err
	}
	ttl, err := kvstore.CheckWrite(opts)
	if err != nil {
		return "", 0, err
	}
	if len(value) > maxValueSize {
		return "", 0, fmt.Errorf("%w: %d bytes at %q (boltdb takes up to %d)", kvstore.ErrValueTooLarge, len(value), key, maxValueSize)
	}
	return key, ttl, nil
}

func deadline(now time.Time, ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return now.Add(ttl)
}
