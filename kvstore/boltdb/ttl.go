package boltdb

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"
)

// foreignPoll is how long the sweeper sleeps when this process gives it nothing to do. Another
// process may have written a TTL or changed keys that watches here follow, and nothing but a look
// at the file tells; a second keeps that look cheap and the delay short.
const foreignPoll = time.Second

// sweepOpenTimeout bounds how long the sweeper waits for a file another process holds. It is
// short because Close waits for the sweeper; a look that gives up is simply tried again later.
const sweepOpenTimeout = foreignPoll / 2

// sweep is the file's expiry goroutine, one per file and process. It wakes at the earliest
// deadline in the file (or when a write sets one), removes what is due so that watches and lock
// holders hear of it, and on each wake tells subscribers to re-read if another process wrote.
// Reads never wait for it: an expired key is invisible as soon as its deadline passes.
func (f *file) sweep(ctx context.Context) {
	defer close(f.done)
	// The first pass runs at once: deadlines that passed while no process had the file open are
	// due now.
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.kick:
		case <-timer.C:
		}
		wait := foreignPoll
		if next := f.sweepOnce(ctx); !next.IsZero() {
			wait = min(max(time.Until(next), 0), foreignPoll)
		}
		timer.Reset(wait)
	}
}

// sweepOnce expires what is due and returns when to look again (zero: no deadline known).
func (f *file) sweepOnce(ctx context.Context) time.Time {
	db, err := f.acquire(ctx, sweepOpenTimeout)
	if err != nil {
		return time.Time{}
	}
	defer f.release()
	f.writeMu.Lock()
	defer f.writeMu.Unlock()

	var counter uint64
	var due bool
	var next time.Time
	err = db.View(func(tx *bolt.Tx) error {
		counter = fileCounter(tx)
		return forBuckets(tx, func(t *txn) error {
			if k, _ := t.expiry.Cursor().First(); k != nil {
				deadline, _ := decodeExpiryKey(k)
				due = due || !t.now.Before(deadline)
				if next.IsZero() || deadline.Before(next) {
					next = deadline
				}
			}
			return nil
		})
	})
	if counter != f.known {
		f.committed(counter, []event{{resync: true}}, false)
	}
	if err != nil || !due {
		return next
	}
	if err := f.expireDue(db); err != nil {
		return time.Now().Add(retryInterval)
	}
	return time.Now()
}

// expireDue removes every key past its deadline, in every bucket of the file; the caller holds
// writeMu.
func (f *file) expireDue(db *bolt.DB) error {
	var counter uint64
	var events []event
	err := db.Update(func(tx *bolt.Tx) error {
		err := forBuckets(tx, func(t *txn) error {
			err := expireBucket(t)
			events = append(events, t.events...)
			return err
		})
		counter = fileCounter(tx)
		return err
	})
	if err == nil {
		f.committed(counter, events, false)
	}
	return err
}

// expireBucket drops the keys of one bucket whose expiry entries are due. An entry whose record
// no longer carries its deadline is removed too, so that it cannot make the sweeper spin.
func expireBucket(t *txn) error {
	var due [][]byte
	c := t.expiry.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if deadline, _ := decodeExpiryKey(k); t.now.Before(deadline) {
			break
		}
		due = append(due, append([]byte{}, k...))
	}
	for _, k := range due {
		_, key := decodeExpiryKey(k)
		if err := t.expire(key); err != nil {
			return err
		}
		if err := t.expiry.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// forBuckets calls fn with a txn for each kvmirror bucket of the file.
func forBuckets(tx *bolt.Tx, fn func(*txn) error) error {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		return nil
	}
	own := meta.Bucket(bucketsBucket)
	if own == nil {
		return nil
	}
	return own.ForEachBucket(func(name []byte) error {
		t, err := newTxn(tx, string(name))
		if err != nil {
			return err
		}
		return fn(t)
	})
}

func fileCounter(tx *bolt.Tx) uint64 {
	if meta := tx.Bucket(metaBucket); meta != nil {
		return decodeIndex(meta.Get(indexKey))
	}
	return 0
}
