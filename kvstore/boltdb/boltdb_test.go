package boltdb_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/boltdb"
)

func tempFile(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "kv.db")
}

// open opens a Store on bucket "kv" of path, closed when the test ends.
func open(t *testing.T, path string, persist bool) kvstore.Store {
	t.Helper()
	st, err := boltdb.New(t.Context(), []string{path}, &kvstore.Config{Bucket: "kv", PersistConnection: persist})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestNewChecksConfig(t *testing.T) {
	path := tempFile(t)
	for _, tc := range []struct {
		name      string
		endpoints []string
		cfg       *kvstore.Config
		mention   string
	}{
		{"no config", []string{path}, nil, "Bucket"},
		{"no bucket", []string{path}, &kvstore.Config{}, "Bucket"},
		{"reserved bucket", []string{path}, &kvstore.Config{Bucket: "\x00kvmirror"}, "reserved"},
		{"no path", nil, &kvstore.Config{Bucket: "kv"}, "path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := boltdb.New(t.Context(), tc.endpoints, tc.cfg)
			if err == nil {
				_ = st.Close()
				t.Fatal("New succeeded")
			}
			if !errors.Is(err, kvstore.ErrInvalidOption) || !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("New: %v; want ErrInvalidOption mentioning %q", err, tc.mention)
			}
		})
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a rejected configuration touched the file: %v", err)
	}
}

func TestOpenURL(t *testing.T) {
	path := tempFile(t)
	st, err := kvstore.OpenURL(t.Context(), "boltdb://"+path+"?bucket=kv&persist=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Put(t.Context(), "a", []byte("1"), nil); err != nil {
		t.Fatal(err)
	}
	// A second Store of this process on the same file shares its handle, even while the first
	// keeps it open: bolt's flock would otherwise make it wait out the timeout.
	other := open(t, path, true)
	if pair, err := other.Get(t.Context(), "/a/", nil); err != nil || string(pair.Value) != "1" {
		t.Errorf("Get through a second Store = %v, %v", pair, err)
	}
}

// TestIndexSurvivesReopen: indexes come from a counter in the file, so a file closed by every
// Store and opened again keeps counting up, where an in-memory counter would start at 0 again
// and make a stale AtomicPut succeed.
func TestIndexSurvivesReopen(t *testing.T) {
	for _, persist := range []bool{false, true} {
		t.Run(fmt.Sprint("persist=", persist), func(t *testing.T) {
			path := tempFile(t)
			st, err := boltdb.New(t.Context(), []string{path}, &kvstore.Config{Bucket: "kv", PersistConnection: persist})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := st.Put(t.Context(), "k", []byte(fmt.Sprint(i)), nil); err != nil {
					t.Fatal(err)
				}
			}
			before, err := st.Get(t.Context(), "k", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}

			st = open(t, path, persist)
			if err := st.Put(t.Context(), "other", []byte("x"), nil); err != nil {
				t.Fatal(err)
			}
			other, err := st.Get(t.Context(), "other", nil)
			if err != nil {
				t.Fatal(err)
			}
			if other.LastIndex <= before.LastIndex {
				t.Errorf("index after reopen %d, want more than %d", other.LastIndex, before.LastIndex)
			}
			ok, pair, err := st.AtomicPut(t.Context(), "k", []byte("new"), before, nil)
			if !ok || err != nil || pair.LastIndex <= other.LastIndex {
				t.Errorf("AtomicPut with the pair read before reopen = %v, %v, %v", ok, pair, err)
			}
		})
	}
}

// TestTTLSurvivesReopen: a deadline is stored in the file. A key still alive at reopen expires on
// time (and its Watch hears of it); one whose deadline passed while the file was closed is gone
// at once.
func TestTTLSurvivesReopen(t *testing.T) {
	path := tempFile(t)
	st, err := boltdb.New(t.Context(), []string{path}, &kvstore.Config{Bucket: "kv"})
	if err != nil {
		t.Fatal(err)
	}
	const short, long = 300 * time.Millisecond, 1500 * time.Millisecond
	for key, ttl := range map[string]time.Duration{"short": short, "long": long} {
		if err := st.Put(t.Context(), key, []byte(key), &kvstore.WriteOptions{TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(short)

	st = open(t, path, false)
	if ok, err := st.Exists(t.Context(), "short", nil); ok || err != nil {
		t.Errorf("Exists(short) after its deadline passed while closed = %v, %v", ok, err)
	}
	events, err := st.Watch(t.Context(), "long", nil)
	if err != nil {
		t.Fatal(err)
	}
	if pair := <-events; pair == nil || string(pair.Value) != "long" {
		t.Fatalf("first Watch event %v, want the value", pair)
	}
	// The deadline is about 1.2s away; 3s more covers a loaded machine.
	select {
	case pair := <-events:
		if pair != nil {
			t.Errorf("Watch event %v, want nil for the expiry", pair)
		}
	case <-time.After(long + 3*time.Second):
		t.Fatal("no expiry event for a TTL set before reopen")
	}
	if ok, err := st.Exists(t.Context(), "long", nil); ok || err != nil {
		t.Errorf("Exists(long) after expiry = %v, %v", ok, err)
	}
}

// TestBookkeepingHidden: lock records and expiry entries live outside the user bucket, and
// other buckets of the file are not listed.
func TestBookkeepingHidden(t *testing.T) {
	path := tempFile(t)
	st := open(t, path, false)
	neighbour, err := boltdb.New(t.Context(), []string{path}, &kvstore.Config{Bucket: "neighbour"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = neighbour.Close() })
	if err := neighbour.Put(t.Context(), "n", []byte("n"), nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(t.Context(), "ttl", []byte("t"), &kvstore.WriteOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	lock, err := st.NewLock(t.Context(), "lock", &kvstore.LockOptions{Value: []byte("me")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Unlock(context.Background()) })
	pairs, err := st.List(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, p := range pairs {
		keys = append(keys, p.Key+"="+string(p.Value))
	}
	if got := strings.Join(keys, " "); got != "lock=me ttl=t" {
		t.Errorf("List(root) = %s, want lock=me ttl=t", got)
	}
}
