package kvtest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
	"github.com/kvmirror/kvmirror/kvstore/memstore"
)

// TestMain fails the package if a Store of the reference backend, or the suite, leaks a goroutine:
// the suite must leave nothing running once a test and its clean-ups are done.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// memSuite runs the suite against a fresh in-memory backend, through wrap if not nil.
func memSuite(t *testing.T, wrap func(kvstore.Store) kvstore.Store) kvtest.Suite {
	backend := memstore.New()
	t.Cleanup(backend.Close)
	return kvtest.Suite{
		New: func(*testing.T) kvstore.Store {
			var st kvstore.Store = backend.Open()
			if wrap != nil {
				st = wrap(st)
			}
			return st
		},
	}
}

// TestReference proves the suite satisfiable: the reference Store implements the contract and
// must pass every test.
func TestReference(t *testing.T) {
	t.Parallel()
	memSuite(t, nil).Run(t)
}

// TestUnsupported runs the suite against a backend that declares every capability unsupported
// and refuses those calls, as a backend without TTLs, locks or watches must.
func TestUnsupported(t *testing.T) {
	t.Parallel()
	s := memSuite(t, func(st kvstore.Store) kvstore.Store { return refusing{st} })
	s.Unsupported = []kvtest.Capability{kvtest.CapTTL, kvtest.CapLock, kvtest.CapWatch}
	s.Run(t)
}

// faultEnv tells a child process of TestFaults which fault to run the suite against.
const faultEnv = "KVTEST_FAULT"

// faults maps each deliberately broken Store to the suite test that must catch it.
var faults = map[string]struct {
	wrap func(kvstore.Store) kvstore.Store
	test string
}{
	"OneLevelList":        {func(s kvstore.Store) kvstore.Store { return oneLevelList{s} }, "ListRecursive"},
	"PrefixList":          {func(s kvstore.Store) kvstore.Store { return prefixList{s} }, "ListSiblings"},
	"NonCanonicalKeys":    {func(s kvstore.Store) kvstore.Store { return nonCanonicalKeys{s} }, "KeysCanonical"},
	"UntypedErrors":       {func(s kvstore.Store) kvstore.Store { return untypedErrors{s} }, "MissingKey"},
	"AtomicPutOverwrites": {func(s kvstore.Store) kvstore.Store { return atomicPutOverwrites{s} }, "AtomicPutCreate"},
	"WatchDropsDeletes":   {func(s kvstore.Store) kvstore.Store { return watchDropsDeletes{s} }, "WatchDelete"},
	"WatchSkipsSameValue": {func(s kvstore.Store) kvstore.Store { return watchSkipsSameValue{s} }, "WatchEveryWrite"},
	"WatchIgnoresCancel":  {func(s kvstore.Store) kvstore.Store { return watchIgnoresCancel{s} }, "WatchCancel"},
	"TreeTopLevelOnly":    {func(s kvstore.Store) kvstore.Store { return treeTopLevelOnly{s} }, "WatchTreeDepth"},
	"TTLIgnored":          {func(s kvstore.Store) kvstore.Store { return ttlIgnored{s} }, "TTLExpires"},
	"LockNilNil": {func(s kvstore.Store) kvstore.Store {
		return lockWrapper{s, func(_ kvstore.Store, l kvstore.Locker, _ string, _ *kvstore.LockOptions) kvstore.Locker {
			return nilNilLock{l}
		}}
	}, "LockCancelWaiting"},
	"LockDeafToDelete": {func(s kvstore.Store) kvstore.Store {
		return lockWrapper{s, func(_ kvstore.Store, l kvstore.Locker, _ string, _ *kvstore.LockOptions) kvstore.Locker {
			return &deafLock{Locker: l}
		}}
	}, "LockLostOnDelete"},
	"LockNeverExpires": {func(s kvstore.Store) kvstore.Store {
		return lockWrapper{s, func(st kvstore.Store, _ kvstore.Locker, key string, opts *kvstore.LockOptions) kvstore.Locker {
			o := *opts
			o.RenewLock = nil
			l, _ := st.NewLock(context.Background(), key, &o)
			return l
		}}
	}, "LockExpiry"},
	"LockNoExclusion": {func(s kvstore.Store) kvstore.Store {
		return lockWrapper{s, func(kvstore.Store, kvstore.Locker, string, *kvstore.LockOptions) kvstore.Locker {
			return &noExclusion{}
		}}
	}, "LockMutualExclusion"},
}

// TestFaults shows that the suite fails on broken Stores: each fault runs, in a child process of
// this test binary, only the suite test meant to catch it, which must fail. A child process keeps
// the expected failure out of this process's result.
func TestFaults(t *testing.T) {
	if name := os.Getenv(faultEnv); name != "" {
		memSuite(t, faults[name].wrap).Run(t)
		return
	}
	t.Parallel()
	// The children mostly wait for events that never come, so all run at once rather than
	// within -test.parallel: the whole check takes as long as the slowest fault.
	results := map[string]chan childResult{}
	for name, fault := range faults {
		result := make(chan childResult, 1)
		results[name] = result
		go func() { result <- runFaultChild(t.Context(), name, fault.test) }()
	}
	for name, fault := range faults {
		t.Run(name, func(t *testing.T) {
			r := <-results[name]
			if r.err == nil {
				t.Fatalf("suite test %s passed against the %s fault:\n%s", fault.test, name, r.out)
			}
			if want := "--- FAIL: TestFaults/kvtest/" + fault.test + " "; !strings.Contains(r.out, want) {
				t.Fatalf("child failed without %q (%v):\n%s", want, r.err, r.out)
			}
			for line := range strings.Lines(r.out) {
				if strings.Contains(line, ".go:") && !strings.Contains(line, "closed after") {
					t.Logf("caught: %s", strings.TrimSpace(line))
					break
				}
			}
		})
	}
}

type childResult struct {
	out string
	err error
}

// runFaultChild runs this test binary again, with only the suite test meant to catch the fault.
func runFaultChild(ctx context.Context, name, test string) childResult {
	pattern := "^TestFaults$/^kvtest$/^" + test + "$"
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+pattern, "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), faultEnv+"="+name)
	out, err := cmd.CombinedOutput()
	return childResult{string(out), err}
}
