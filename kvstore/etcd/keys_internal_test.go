package etcd

import (
	"context"
	"errors"
	"fmt"
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
		etcdKey   string
		canonical string
		ok        bool
	}{
		{"/a", "a", true},
		{"/a/b", "a/b", true},
		{"/", "", false},
		{"/a/", "", false},   // written by another tool: not canonical
		{"/a//b", "", false}, // idem
		{"a/b", "", false},   // outside the user root
		{lockPrefix + "a" + waiterSep + "0000000000000001", "", false},
	} {
		canonical, ok := canonicalKey([]byte(tc.etcdKey))
		if canonical != tc.canonical || ok != tc.ok {
			t.Errorf("canonicalKey(%q) = %q, %v; want %q, %v", tc.etcdKey, canonical, ok, tc.canonical, tc.ok)
		}
	}
	if got := dirPrefix(""); got != "/" {
		t.Errorf("dirPrefix(root) = %q", got)
	}
	if got := dirPrefix("app"); got != "/app/" {
		t.Errorf("dirPrefix(app) = %q", got)
	}
	if strings.HasPrefix(waiterKey("a/b", 1), waiterPrefix("a")) {
		t.Error("the waiters of lock a include those of lock a/b")
	}
}

// FuzzCanonicalKey: whatever another tool wrote under the user root, an accepted key maps back to
// exactly the etcd key it came from, so no two etcd keys show as one kvstore key.
func FuzzCanonicalKey(f *testing.F) {
	for _, seed := range []string{"/a", "/a/b", "//a", "/a/", "/", "", "\x00kvmirror/locks/a\x00", "/ä/\u2028"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, etcdKey []byte) {
		canonical, ok := canonicalKey(etcdKey)
		if !ok {
			return
		}
		if userKey(canonical) != string(etcdKey) {
			t.Fatalf("canonicalKey(%q) = %q, which maps to %q", etcdKey, canonical, userKey(canonical))
		}
		if canonical == "" || kvstore.Canonical(canonical) != canonical {
			t.Fatalf("canonicalKey(%q) = %q, not canonical", etcdKey, canonical)
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
