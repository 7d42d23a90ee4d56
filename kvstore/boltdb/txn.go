package boltdb

import (
	"bytes"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/kvmirror/kvmirror/kvstore"
)

// txn is one bolt transaction seen through one Store's bucket. Every change to a key goes through
// put, drop or extend, which keep the record, the expiry index and the lock table consistent,
// take an index from the file's counter and queue the event to publish after commit.
type txn struct {
	tx     *bolt.Tx
	bucket string
	data   *bolt.Bucket
	meta   *bolt.Bucket
	expiry *bolt.Bucket
	locks  *bolt.Bucket
	// now is read once, so that one transaction agrees with itself about what has expired.
	now       time.Time
	events    []event
	deadlines bool // a deadline was written: the sweeper must look again
}

func newTxn(tx *bolt.Tx, bucket string) (*txn, error) {
	t := &txn{tx: tx, bucket: bucket, now: time.Now()}
	t.data = tx.Bucket([]byte(bucket))
	t.meta = tx.Bucket(metaBucket)
	if t.meta != nil {
		if own := t.meta.Bucket(bucketsBucket); own != nil {
			if own = own.Bucket([]byte(bucket)); own != nil {
				t.expiry = own.Bucket(expiryBucket)
				t.locks = own.Bucket(locksBucket)
			}
		}
	}
	if t.data == nil || t.expiry == nil || t.locks == nil {
		return nil, fmt.Errorf("boltdb: bucket %q is missing from the file (was it removed by another program?)", bucket)
	}
	return t, nil
}

// counter is the file's index counter: the index of the latest change.
func (t *txn) counter() uint64 {
	return decodeIndex(t.meta.Get(indexKey))
}

func (t *txn) nextIndex() (uint64, error) {
	next := t.counter() + 1
	return next, t.meta.Put(indexKey, encodeIndex(next))
}

// raw returns key's record whether or not it has expired.
func (t *txn) raw(key string) (record, bool, error) {
	b := t.data.Get([]byte(key))
	if b == nil {
		return record{}, false, nil
	}
	r, err := decodeRecord(b)
	return r, err == nil, err
}

// get returns key's record unless it is missing or expired: an expired key is gone for readers
// at once, whether or not the sweeper has removed it yet.
func (t *txn) get(key string) (record, bool, error) {
	r, ok, err := t.raw(key)
	if !ok || r.expired(t.now) {
		return record{}, false, err
	}
	return r, true, nil
}

// put writes value at key with a new index. Any lock on key is broken: the key no longer holds
// what its holder wrote (the lock code writes its lock record after calling put).
func (t *txn) put(key string, value []byte, deadline time.Time) (*kvstore.KVPair, error) {
	if err := t.expire(key); err != nil {
		return nil, err
	}
	old, ok, err := t.raw(key)
	if err != nil {
		return nil, err
	}
	if ok {
		if err := t.unindex(key, old); err != nil {
			return nil, err
		}
	}
	index, err := t.nextIndex()
	if err != nil {
		return nil, err
	}
	value = append([]byte{}, value...) // the caller may reuse its slice; events keep this one
	r := record{index: index, deadline: deadline, value: value}
	if err := t.store(key, r); err != nil {
		return nil, err
	}
	pair := &kvstore.KVPair{Key: key, Value: value, LastIndex: index}
	t.events = append(t.events, event{bucket: t.bucket, key: key, pair: pair, index: index})
	return pair, nil
}

// extend moves key's deadline without a new index: renewing a lock is not a write of its value,
// so it neither shows in LastIndex nor wakes watches.
func (t *txn) extend(key string, r record, deadline time.Time) error {
	if err := t.expiry.Delete(expiryKey(r.deadline, key)); err != nil {
		return err
	}
	r.deadline = deadline
	return t.store(key, r)
}

// drop deletes key with a new index and reports the deletion.
func (t *txn) drop(key string, r record) error {
	if err := t.unindex(key, r); err != nil {
		return err
	}
	if err := t.data.Delete([]byte(key)); err != nil {
		return err
	}
	index, err := t.nextIndex()
	if err != nil {
		return err
	}
	t.events = append(t.events, event{bucket: t.bucket, key: key, index: index})
	return nil
}

// expire drops key if it is stored but past its deadline, so that watchers hear of the expiry
// before any write that follows it.
func (t *txn) expire(key string) error {
	r, ok, err := t.raw(key)
	if err != nil || !ok || !r.expired(t.now) {
		return err
	}
	return t.drop(key, r)
}

// store writes r and its expiry entry.
func (t *txn) store(key string, r record) error {
	if err := t.data.Put([]byte(key), encodeRecord(r)); err != nil {
		return err
	}
	if r.deadline.IsZero() {
		return nil
	}
	t.deadlines = true
	return t.expiry.Put(expiryKey(r.deadline, key), nil)
}

// unindex removes what refers to key's current record: its expiry entry and its lock.
func (t *txn) unindex(key string, r record) error {
	if !r.deadline.IsZero() {
		if err := t.expiry.Delete(expiryKey(r.deadline, key)); err != nil {
			return err
		}
	}
	return t.locks.Delete([]byte(key))
}

// list returns the live pairs strictly below dir, sorted, and whether dir itself is live.
func (t *txn) list(dir string) ([]*kvstore.KVPair, bool, error) {
	self := false
	if dir != "" {
		_, ok, err := t.get(dir)
		if err != nil {
			return nil, false, err
		}
		self = ok
	}
	pairs := []*kvstore.KVPair{}
	err := t.scan(dir, func(key string, r record) {
		if !r.expired(t.now) {
			pairs = append(pairs, &kvstore.KVPair{Key: key, Value: r.value, LastIndex: r.index})
		}
	})
	return pairs, self, err
}

// scan calls fn for every stored key strictly below dir, expired or not, in key order. fn must
// not change the bucket: bolt cursors do not survive writes (collect first, then drop).
func (t *txn) scan(dir string, fn func(key string, r record)) error {
	var prefix []byte
	if dir != "" {
		prefix = []byte(dir + "/")
	}
	c := t.data.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		r, err := decodeRecord(v)
		if err != nil {
			return fmt.Errorf("key %q: %w", k, err)
		}
		fn(string(k), r)
	}
	return nil
}
