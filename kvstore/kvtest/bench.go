package kvtest

import (
	"runtime"
	"testing"
	"time"
)

// Cost is what one operation cost in a sub-benchmark: the ns/op and allocs/op it prints.
type Cost struct{ NsPerOp, AllocsPerOp float64 }

// BenchLoop runs op in b.Loop and measures its cost the way -benchmem does, all goroutines'
// allocations included, since a package cannot read its benchmark's own figures. One untimed
// call first does what only a first call does (a client connecting lazily, a bucket created).
func BenchLoop(b *testing.B, op func() error) Cost {
	b.ReportAllocs()
	BenchDo(b, op)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		BenchDo(b, op)
	}
	runtime.ReadMemStats(&after)
	n := float64(b.N)
	return Cost{NsPerOp: float64(b.Elapsed().Nanoseconds()) / n, AllocsPerOp: float64(after.Mallocs-before.Mallocs) / n}
}

// BenchPaired runs raw and store once each per iteration, each first in every other iteration,
// and returns the time store took as a ratio of the time raw took. Both see the same load, which
// on a shared machine can change several times over between two sub-benchmarks. One untimed
// call of each comes first, as in BenchLoop.
func BenchPaired(b *testing.B, raw, store func() error) float64 {
	BenchDo(b, raw)
	BenchDo(b, store)
	var rawTime, storeTime time.Duration
	timed := func(op func() error, total *time.Duration) {
		start := time.Now()
		BenchDo(b, op)
		*total += time.Since(start)
	}
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			timed(raw, &rawTime)
			timed(store, &storeTime)
		} else {
			timed(store, &storeTime)
			timed(raw, &rawTime)
		}
	}
	return float64(storeTime) / float64(rawTime)
}

// BenchDo runs op and stops the benchmark if it fails.
func BenchDo(b *testing.B, op func() error) {
	b.Helper()
	if err := op(); err != nil {
		b.Fatal(err)
	}
}
