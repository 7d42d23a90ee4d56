package etcd

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvmirror/kvmirror/kvstore"
)

func TestKeyLayout(t *testing.T) {
	for _, tc := range []struct {
		keys      layout
		etcdKey   string
		canonical string
		ok        bool
	}{
		{slashLayout, "/a", "a", true},
		{slashLayout, "/a/b", "a/b", true},
		{slashLayout, "/", "", false},
		{slashLayout, "/a/", "", false},   // written by another tool: not canonical
		{slashLayout, "/a//b", "", false}, // idem
		// Keys Normalize refuses are returned, so that readers can report them, not lose them.
		{slashLayout, "/a/./b", "a/./b", true},
		{slashLayout, "/a/\x01", "a/\x01", true},
		{slashLayout, "a/b", "", false}, // outside the user root: the plain layout's
		{slashLayout, "", "", false},
		{slashLayout, slashLayout.waiterKey("a", 1), "", false},
		{slashLayout, plainLayout.waiterKey("a", 1), "", false},
		{plainLayout, "a", "a", true},
		{plainLayout, "a/b", "a/b", true},
		{plainLayout, "app/config/db.host", "app/config/db.host", true},
		{plainLayout, "/a/b", "", false}, // the slash layout's
		{plainLayout, "/", "", false},
		{plainLayout, "", "", false},
		{plainLayout, "a/", "", false},
		{plainLayout, "a//b", "", false},
		{plainLayout, "..", "..", true},
		{plainLayout, "\x7fa", "\x7fa", true},
		{plainLayout, "\x01a", "", false}, // outside the root's ranges, beside lock bookkeeping
		{plainLayout, slashLayout.waiterKey("a", 1), "", false},
		{plainLayout, plainLayout.waiterKey("a", 1), "", false},
		{plainLayout, plainLayout.locks, "", false},
	} {
		canonical, ok := tc.keys.canonicalKey([]byte(tc.etcdKey))
		if canonical != tc.canonical || ok != tc.ok {
			t.Errorf("%s.canonicalKey(%q) = %q, %v; want %q, %v", tc.keys.name(), tc.etcdKey, canonical, ok, tc.canonical, tc.ok)
		}
	}
}

func TestUserKey(t *testing.T) {
	for _, tc := range []struct {
		keys      layout
		canonical string
		etcdKey   string
	}{
		{slashLayout, "a", "/a"},
		{slashLayout, "a/b", "/a/b"},
		{plainLayout, "a", "a"},
		{plainLayout, "app/config/db.host", "app/config/db.host"},
	} {
		if got := tc.keys.userKey(tc.canonical); got != tc.etcdKey {
			t.Errorf("%s.userKey(%q) = %q, want %q", tc.keys.name(), tc.canonical, got, tc.etcdKey)
		}
	}
}

func TestDirRanges(t *testing.T) {
	for _, tc := range []struct {
		keys layout
		dir  string
		want []keyRange
	}{
		{slashLayout, "", []keyRange{{"/", "0"}}},
		{slashLayout, "app", []keyRange{{"/app/", "/app0"}}},
		{plainLayout, "", []keyRange{{" ", "/"}, {"0", rangeEnd}}},
		{plainLayout, "app", []keyRange{{"app/", "app0"}}},
		{plainLayout, "a/b", []keyRange{{"a/b/", "a/b0"}}},
	} {
		if got := tc.keys.dirRanges(tc.dir); !slices.Equal(got, tc.want) {
			t.Errorf("%s.dirRanges(%q) = %q, want %q", tc.keys.name(), tc.dir, got, tc.want)
		}
	}
}

// TestDirRangesHold checks, for sample etcd keys, that a key lies in the ranges of a directory
// exactly when it is a canonical key of the layout strictly below that directory: no sibling
// ("apple/x" for "app"), no key of the other layout, no lock bookkeeping.
func TestDirRangesHold(t *testing.T) {
	etcdKeys := []string{
		"a", "a/b", "app/x", "apple/x", "app", " x", "-x", "zz/y", "\u00e4/b", "~", "0",
		"/a", "/a/b", "/app/x", "/apple/x", "//a", "/",
		"", "\x01a", "\x7f", "a/", "a//b",
		slashLayout.waiterKey("app/x", 1), plainLayout.waiterKey("app/x", 1), slashLayout.locks, plainLayout.locks,
	}
	for _, keys := range []layout{slashLayout, plainLayout} {
		for _, dir := range []string{"", "a", "app", "a/b"} {
			for _, etcdKey := range etcdKeys {
				canonical, ok := keys.canonicalKey([]byte(etcdKey))
				want := ok && kvstore.IsBelow(dir, canonical)
				got := inRanges(keys.dirRanges(dir), etcdKey)
				if ok && got != want {
					// A range may hold a key that is not canonical (skipped when read), but
					// must tell exactly which canonical keys lie below the directory.
					t.Errorf("%s: %q in the ranges of %q = %v, want %v", keys.name(), etcdKey, dir, got, want)
				}
				if got && (strings.HasPrefix(etcdKey, "\x00") || (keys.root == "" && strings.HasPrefix(etcdKey, "/"))) {
					t.Errorf("%s: the ranges of %q hold %q", keys.name(), dir, etcdKey)
				}
			}
		}
	}
}

func inRanges(ranges []keyRange, key string) bool {
	for _, r := range ranges {
		if key >= r.key && (r.end == rangeEnd || key < r.end) {
			return true
		}
	}
	return false
}

// TestLockKeysApart: no user key can be a waiter key, the waiters of lock "a" do not include
// those of lock "a/b", and the two layouts queue apart, as their lock keys differ.
func TestLockKeysApart(t *testing.T) {
	for _, keys := range []layout{slashLayout, plainLayout} {
		if strings.HasPrefix(keys.waiterKey("a/b", 1), keys.waiterPrefix("a")) {
			t.Errorf("%s: the waiters of lock a include those of lock a/b", keys.name())
		}
		if _, err := kvstore.Normalize(keys.locks); err == nil {
			t.Errorf("%s: the lock prefix %q is a valid key", keys.name(), keys.locks)
		}
		if !strings.HasPrefix(keys.locks, "\x00") {
			t.Errorf("%s: the lock prefix %q does not start below every user key", keys.name(), keys.locks)
		}
	}
	if strings.HasPrefix(plainLayout.locks, slashLayout.locks) || strings.HasPrefix(slashLayout.locks, plainLayout.locks) {
		t.Error("the waiters of one layout include those of the other")
	}
	if slashLayout.waiterKey("a", 1) != "\x00kvmirror/locks/a\x000000000000000001" {
		t.Errorf("the slash layout's waiter keys changed: %q; Stores of older versions would not queue with it", slashLayout.waiterKey("a", 1))
	}
}

func TestNewLayout(t *testing.T) {
	for _, tc := range []struct {
		cfg  *kvstore.Config
		want layout
	}{
		{nil, slashLayout},
		{&kvstore.Config{}, slashLayout},
		{&kvstore.Config{KeyLayout: kvstore.KeyLayoutSlash}, slashLayout},
		{&kvstore.Config{KeyLayout: kvstore.KeyLayoutPlain}, plainLayout},
	} {
		if got, err := newLayout(tc.cfg); got != tc.want || err != nil {
			t.Errorf("newLayout(%+v) = %s, %v; want %s", tc.cfg, got.name(), err, tc.want.name())
		}
	}
	if _, err := newLayout(&kvstore.Config{KeyLayout: "flat"}); !errors.Is(err, kvstore.ErrInvalidOption) {
		t.Errorf("newLayout(flat) = %v, want ErrInvalidOption", err)
	}
}

// name names a layout in test messages.
func (l layout) name() string {
	if l.root == "" {
		return "plain"
	}
	return "slash"
}

// FuzzCanonicalKey: whatever another tool wrote, a key a layout accepts maps back to exactly the
// etcd key it came from, so no two etcd keys show as one kvstore key; it is in canonical form; and it lies in the ranges of the root, so List and WatchTree of the root see it.
func FuzzCanonicalKey(f *testing.F) {
	for _, seed := range []string{"/a", "/a/b", "//a", "/a/", "/", "", "\x00kvmirror/locks/a\x00", "/ä/\u2028", "a/b", "a", " a", "~/x"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, etcdKey []byte) {
		for _, keys := range []layout{slashLayout, plainLayout} {
			canonical, ok := keys.canonicalKey(etcdKey)
			if !ok {
				continue
			}
			if keys.userKey(canonical) != string(etcdKey) {
				t.Fatalf("%s.canonicalKey(%q) = %q, which maps to %q", keys.name(), etcdKey, canonical, keys.userKey(canonical))
			}
			if canonical == "" || kvstore.Canonical(canonical) != canonical {
				t.Fatalf("%s.canonicalKey(%q) = %q, not canonical", keys.name(), etcdKey, canonical)
			}
			if !inRanges(keys.dirRanges(""), string(etcdKey)) {
				t.Fatalf("%s: %q is outside the ranges of the root", keys.name(), etcdKey)
			}
		}
	})
}

func TestLeaseSeconds(t *testing.T) {
	for ttl, want := range map[time.Duration]int64{
		time.Nanosecond:         1,
		500 * time.Millisecond:  1,
		time.Second:             1,
		1001 * time.Millisecond: 2,
		15 * time.Second:        15,
	} {
		if got := leaseSeconds(ttl); got != want {
			t.Errorf("leaseSeconds(%v) = %d, want %d", ttl, got, want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{rpctypes.ErrAuthFailed, kvstore.ErrPermissionDenied},
		{rpctypes.ErrGRPCAuthFailed, kvstore.ErrPermissionDenied},
		{rpctypes.ErrPermissionDenied, kvstore.ErrPermissionDenied},
		{rpctypes.ErrUserEmpty, kvstore.ErrPermissionDenied},
		{rpctypes.ErrInvalidAuthToken, kvstore.ErrPermissionDenied},
		{rpctypes.ErrRequestTooLarge, kvstore.ErrValueTooLarge},
		{status.Error(codes.ResourceExhausted, "trying to send message larger than max (3 vs. 2)"), kvstore.ErrValueTooLarge},
		{rpctypes.ErrTooManyRequests, nil},
		{rpctypes.ErrNoSpace, nil},
		{rpctypes.ErrNoLeader, kvstore.ErrUnreachable},
		{rpctypes.ErrTimeout, kvstore.ErrUnreachable},
		{status.Error(codes.Unavailable, "connection refused"), kvstore.ErrUnreachable},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), kvstore.ErrUnreachable},
		{rpctypes.ErrCompacted, nil},
		{errors.New("other"), nil},
	} {
		if got := classify(tc.err); !errors.Is(got, tc.want) {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
