package etcd_test

import (
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
)

// The benchmarks run each operation twice against the package's shared etcd server, in the same
// run: first through a bare clientv3 client ("clientv3", the baseline), then through the Store
// ("kvstore"), which also reports its ns/op and allocs/op as ratios of the baseline's. On a shared
// machine absolute numbers drift from run to run; the ratios are what to compare.

// benchValue is the size of a typical configuration value.
var benchValue = make([]byte, 128)

// benchListSize is the number of keys below the listed directory.
const benchListSize = 1000

// benchEventWithin bounds the wait for one watch event: a lost event fails the benchmark instead
// of hanging it until -timeout.
const benchEventWithin = 30 * time.Second

func BenchmarkPut(b *testing.B) {
	raw, store, dir := benchClients(b)
	benchVersus(b,
		func(b *testing.B) func() error {
			return func() error { _, err := raw.Put(b.Context(), "/"+dir+"/raw", string(benchValue)); return err }
		},
		func(b *testing.B) func() error {
			return func() error { return store.Put(b.Context(), dir+"/kv", benchValue, nil) }
		})
}

// BenchmarkGet reads one key; both reads are linearizable, the only kind the Store makes.
func BenchmarkGet(b *testing.B) {
	raw, store, dir := benchClients(b)
	if err := store.Put(b.Context(), dir+"/key", benchValue, nil); err != nil {
		b.Fatal(err)
	}
	benchVersus(b,
		func(b *testing.B) func() error {
			return func() error { return expectKeys(raw.Get(b.Context(), "/"+dir+"/key"))(1) }
		},
		func(b *testing.B) func() error {
			return func() error { _, err := store.Get(b.Context(), dir+"/key", nil); return err }
		})
}

// BenchmarkList reads a directory of benchListSize keys. The baseline is one prefix range over
// the same keys, in the Store's documented layout ("a/b" is "/a/b").
func BenchmarkList(b *testing.B) {
	raw, store, dir := benchClients(b)
	for i := range benchListSize {
		if err := store.Put(b.Context(), fmt.Sprintf("%s/list/k%04d", dir, i), benchValue, nil); err != nil {
			b.Fatal(err)
		}
	}
	benchVersus(b,
		func(b *testing.B) func() error {
			return func() error {
				return expectKeys(raw.Get(b.Context(), "/"+dir+"/list/", clientv3.WithPrefix()))(benchListSize)
			}
		},
		func(b *testing.B) func() error {
			return func() error {
				pairs, err := store.List(b.Context(), dir+"/list", nil)
				if err == nil && len(pairs) != benchListSize {
					err = fmt.Errorf("listed %d keys, want %d", len(pairs), benchListSize)
				}
				return err
			}
		})
}

// BenchmarkWatchLatency measures a write's round trip to a watcher: one client writes the key,
// and the operation ends when the watcher receives the event. The writer is a client of its own
// in both cases, so that only the watching side differs.
func BenchmarkWatchLatency(b *testing.B) {
	raw, store, dir := benchClients(b)
	writer := benchRawClient(b)
	timer := time.NewTimer(benchEventWithin)
	defer timer.Stop()
	var watches int
	// watched returns a key for one watch: a watch of another one's key would queue the events
	// that the other one waits for, and answer its next wait at once. The key exists, written
	// at rev; write writes it again and returns the new revision.
	watched := func(b *testing.B) (key string, rev int64, write func() (int64, error)) {
		watches++
		key = fmt.Sprintf("%s/watched%d", dir, watches)
		write = func() (int64, error) {
			resp, err := writer.Put(b.Context(), "/"+key, "v") // the Store's layout: "a/b" is "/a/b"
			if err != nil {
				return 0, err
			}
			return resp.Header.Revision, nil
		}
		rev, err := write()
		if err != nil {
			b.Fatal(err)
		}
		return key, rev, write
	}
	benchVersus(b,
		func(b *testing.B) func() error {
			key, rev, write := watched(b)
			// From the next revision: a watch without one could miss writes made before the
			// server registered it.
			events := raw.Watch(b.Context(), "/"+key, clientv3.WithRev(rev+1))
			return func() error {
				rev, err := write()
				if err != nil {
					return err
				}
				resp, err := benchReceive(timer, events)
				if err == nil && (len(resp.Events) != 1 || resp.Events[0].Kv.ModRevision != rev) {
					err = fmt.Errorf("watch response with %d events, want the write at %d (%w)", len(resp.Events), rev, resp.Err())
				}
				return err
			}
		},
		func(b *testing.B) func() error {
			key, _, write := watched(b)
			events, err := store.Watch(b.Context(), key, nil)
			if err == nil {
				_, err = benchReceive(timer, events) // the current value comes first
			}
			if err != nil {
				b.Fatal(err)
			}
			return func() error {
				rev, err := write()
				if err != nil {
					return err
				}
				pair, err := benchReceive(timer, events)
				if err == nil && (pair == nil || pair.LastIndex != uint64(rev)) {
					err = fmt.Errorf("watch sent %+v, want the write at %d", pair, rev)
				}
				return err
			}
		})
}

func benchReceive[T any](timer *time.Timer, ch <-chan T) (T, error) {
	timer.Reset(benchEventWithin)
	select {
	case v, ok := <-ch:
		if !ok {
			return v, fmt.Errorf("watch channel closed")
		}
		return v, nil
	case <-timer.C:
		var zero T
		return zero, fmt.Errorf("no watch event within %s", benchEventWithin)
	}
}

// expectKeys checks that a range read found n keys; it returns a func so that a call's two
// results can be passed straight in.
func expectKeys(resp *clientv3.GetResponse, err error) func(n int) error {
	return func(n int) error {
		if err == nil && len(resp.Kvs) != n {
			err = fmt.Errorf("read %d keys, want %d", len(resp.Kvs), n)
		}
		return err
	}
}

// benchClients returns a bare client and a Store on the shared server, both closed when the
// benchmark ends, and a directory of the benchmark's own.
func benchClients(b *testing.B) (*clientv3.Client, kvstore.Store, string) {
	store, err := etcd.New(b.Context(), endpoints, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	return benchRawClient(b), store, "etcdbench/" + b.Name() + "-" + rand.Text()[:8]
}

func benchRawClient(b *testing.B) *clientv3.Client {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// benchVersus runs the operations that raw and store set up (inside the sub-benchmark, before
// its timed loop) as three sub-benchmarks:
//
//   - "clientv3" and "kvstore" run one of them each and print the usual ns/op and allocs/op;
//     "kvstore" adds its allocations as a ratio of the baseline's (allocs/clientv3-allocs).
//   - "paired" runs one of each per iteration, in alternating order, and reports the Store's time
//     as a ratio of the bare client's (ns/clientv3-ns). Both see the same load, which on a shared
//     machine can change several times over between two sub-benchmarks. Its B/op and allocs/op
//     are those of the pair.
func benchVersus(b *testing.B, raw, store func(b *testing.B) func() error) {
	var base kvtest.Cost
	b.Run("clientv3", func(b *testing.B) { base = kvtest.BenchLoop(b, raw(b)) })
	b.Run("kvstore", func(b *testing.B) {
		cost := kvtest.BenchLoop(b, store(b))
		if base.AllocsPerOp == 0 {
			b.Log("no clientv3 baseline in this run (filtered out by -bench?): allocs/clientv3-allocs not reported")
			return
		}
		b.ReportMetric(cost.AllocsPerOp/base.AllocsPerOp, "allocs/clientv3-allocs")
	})
	b.Run("paired", func(b *testing.B) {
		b.ReportMetric(kvtest.BenchPaired(b, raw(b), store(b)), "ns/clientv3-ns")
		b.ReportMetric(0, "ns/op")
	})
}
