package boltdb_test

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/boltdb"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
)

// The benchmarks run each operation on a bare bbolt database ("bbolt", the baseline) and through
// Stores, in the same run and each on a file of its own: "kvstore" keeps the file open
// (PersistConnection), as the baseline does; "kvstore-percall" opens it for each call, the
// default, which lets several processes share the file. Each Store variant reports its
// allocs/op as a ratio of the baseline's, and its "-paired" sub-benchmark its time, measured
// alternately with the baseline's so that both see the same load on a shared machine.

var benchValue = make([]byte, 128)

// benchListSize is the number of keys below the listed directory.
const benchListSize = 1000

const benchBucket = "kv"

// benchRaw is a bare bbolt database, the baseline.
type benchRaw struct{ db *bolt.DB }

func (r benchRaw) put(key string, value []byte) error {
	return r.db.Update(func(tx *bolt.Tx) error {
		bucket, err := tx.CreateBucketIfNotExists([]byte(benchBucket))
		if err != nil {
			return err
		}
		return bucket.Put([]byte(key), value)
	})
}

// get copies the value, as any caller must who uses it after the transaction.
func (r benchRaw) get(key string) ([]byte, error) {
	var value []byte
	err := r.db.View(func(tx *bolt.Tx) error {
		if bucket := tx.Bucket([]byte(benchBucket)); bucket != nil {
			value = bytes.Clone(bucket.Get([]byte(key)))
		}
		if value == nil {
			return errors.New("key not found")
		}
		return nil
	})
	return value, err
}

// list copies every key and value below prefix, as kvstore.KVPairs would hold them.
func (r benchRaw) list(prefix string) (pairs []benchPair, err error) {
	err = r.db.View(func(tx *bolt.Tx) error {
		bucket := tx.Bucket([]byte(benchBucket))
		if bucket == nil {
			return errors.New("bucket not found")
		}
		pairs = make([]benchPair, 0, benchListSize)
		c := bucket.Cursor()
		for k, v := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
			pairs = append(pairs, benchPair{string(k), bytes.Clone(v)})
		}
		return nil
	})
	return pairs, err
}

type benchPair struct {
	key   string
	value []byte
}

func BenchmarkPut(b *testing.B) {
	benchVersus(b,
		func(raw benchRaw) func() error { return func() error { return raw.put("put", benchValue) } },
		func(store kvstore.Store) func() error {
			return func() error { return store.Put(b.Context(), "put", benchValue, nil) }
		})
}

func BenchmarkGet(b *testing.B) {
	benchVersus(b,
		func(raw benchRaw) func() error {
			kvtest.BenchDo(b, func() error { return raw.put("get", benchValue) })
			return func() error { _, err := raw.get("get"); return err }
		},
		func(store kvstore.Store) func() error {
			kvtest.BenchDo(b, func() error { return store.Put(b.Context(), "get", benchValue, nil) })
			return func() error { _, err := store.Get(b.Context(), "get", nil); return err }
		})
}

// BenchmarkList reads a directory of benchListSize keys; the baseline is a cursor over a prefix.
func BenchmarkList(b *testing.B) {
	key := func(i int) string { return fmt.Sprintf("list/k%04d", i) }
	benchVersus(b,
		func(raw benchRaw) func() error {
			kvtest.BenchDo(b, func() error {
				return raw.db.Update(func(tx *bolt.Tx) error {
					bucket, err := tx.CreateBucketIfNotExists([]byte(benchBucket))
					for i := 0; err == nil && i < benchListSize; i++ {
						err = bucket.Put([]byte(key(i)), benchValue)
					}
					return err
				})
			})
			return func() error {
				pairs, err := raw.list("list/")
				if err == nil && len(pairs) != benchListSize {
					err = fmt.Errorf("listed %d keys, want %d", len(pairs), benchListSize)
				}
				return err
			}
		},
		func(store kvstore.Store) func() error {
			for i := range benchListSize {
				kvtest.BenchDo(b, func() error { return store.Put(b.Context(), key(i), benchValue, nil) })
			}
			return func() error {
				pairs, err := store.List(b.Context(), "list", nil)
				if err == nil && len(pairs) != benchListSize {
					err = fmt.Errorf("listed %d keys, want %d", len(pairs), benchListSize)
				}
				return err
			}
		})
}

// benchVersus sets up the operation on a bare database and on each Store variant, each on a
// file of its own, and runs the sub-benchmarks described at the top of this file. The set-ups
// run once, before any timed loop.
func benchVersus(b *testing.B, raw func(benchRaw) func() error, store func(kvstore.Store) func() error) {
	dir := b.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	rawOp := raw(benchRaw{db})

	var base kvtest.Cost
	b.Run("bbolt", func(b *testing.B) { base = kvtest.BenchLoop(b, rawOp) })
	for _, variant := range []struct {
		name    string
		persist bool
	}{{"kvstore", true}, {"kvstore-percall", false}} {
		st, err := boltdb.New(b.Context(), []string{filepath.Join(dir, variant.name+".db")},
			&kvstore.Config{Bucket: benchBucket, PersistConnection: variant.persist})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		storeOp := store(st)
		b.Run(variant.name, func(b *testing.B) {
			cost := kvtest.BenchLoop(b, storeOp)
			if base.AllocsPerOp == 0 {
				b.Log("no bbolt baseline in this run (filtered out by -bench?): allocs/bbolt-allocs not reported")
				return
			}
			b.ReportMetric(cost.AllocsPerOp/base.AllocsPerOp, "allocs/bbolt-allocs")
		})
		b.Run(variant.name+"-paired", func(b *testing.B) {
			b.ReportMetric(kvtest.BenchPaired(b, rawOp, storeOp), "ns/bbolt-ns")
			b.ReportMetric(0, "ns/op")
		})
	}
}
