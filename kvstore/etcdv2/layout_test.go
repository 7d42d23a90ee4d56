package etcdv2_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcdv2"
)

func TestLayout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key, leaf string
	}{
		{"a", "/a/="},
		{"a/b", "/a/b/="},
		{"=", "/==/="},
		{"a/==/b", "/a/===/b/="},
		{"_hidden/x", "/=_hidden/x/="},
		{"x/_y_/z", "/x/=_y_/z/="},
		{"a=b/c_", "/a=b/c_/="},
		{"sp ace/%2F/?#", "/sp ace/%2F/?#/="},
		{"ünï/中文", "/ünï/中文/="},
	}
	for _, tc := range tests {
		if got := etcdv2.LeafPath(tc.key); got != tc.leaf {
			t.Errorf("LeafPath(%q) = %q, want %q", tc.key, got, tc.leaf)
		}
		if key, ok := etcdv2.KeyOfFile(tc.leaf); !ok || key != tc.key {
			t.Errorf("KeyOfFile(%q) = %q, %v; want %q", tc.leaf, key, ok, tc.key)
		}
		// The same key written by another v2 client, as a plain file where the layout puts
		// the key's directory.
		plain := strings.TrimSuffix(tc.leaf, "/=")
		if key, ok := etcdv2.KeyOfFile(plain); !ok || key != tc.key {
			t.Errorf("KeyOfFile(%q) (plain) = %q, %v; want %q", plain, key, ok, tc.key)
		}
	}
	if got := etcdv2.NodePath(""); got != "/" {
		t.Errorf("NodePath(root) = %q, want /", got)
	}
	if got := etcdv2.QueuePath("a/_b"); got != "/_kvmirror/locks/a/=_b/=" {
		t.Errorf("QueuePath(a/_b) = %q", got)
	}
	// Files that no key maps to: hidden nodes, the root's own value file, names that the
	// escaping never produces (reading "=a" as "a" would give "a" two nodes), names kvstore
	// refuses.
	for _, p := range []string{
		"/=", "/_kvmirror/locks/a/=", "/a/=/=", "/_x/=", "/a/_b/=", "/_x", "/a/_b",
		"/=a", "/=a/=", "/x/=a/y", "/x/=/y", "/a/\x01b", "/a/../b",
	} {
		if key, ok := etcdv2.KeyOfFile(p); ok {
			t.Errorf("KeyOfFile(%q) = %q, want no key", p, key)
		}
	}
}

func TestValueEncoding(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"", "text", "ünïcödé", "\x00", "\x00abc", "\xff\xfe", "a\x00b", string([]byte{0, 1, 2, 255})} {
		stored := etcdv2.EncodeValue([]byte(v))
		if !utf8.ValidString(stored) {
			t.Errorf("EncodeValue(%q) = %q, not valid UTF-8 (etcd's JSON would mangle it)", v, stored)
		}
		if got := etcdv2.DecodeValue(stored); got == nil || string(got) != v {
			t.Errorf("DecodeValue(EncodeValue(%q)) = %q", v, got)
		}
	}
	// Text is stored as it is, readable by any v2 client.
	if got := etcdv2.EncodeValue([]byte("plain text\n")); got != "plain text\n" {
		t.Errorf("EncodeValue(text) = %q, want it unchanged", got)
	}
}

// FuzzLayout checks that the key mapping is a bijection on valid keys, whether the key is held
// in the layout or as a plain file, that no mapped segment is hidden by etcd or taken for a
// value file, and that values round-trip.
func FuzzLayout(f *testing.F) {
	for _, seed := range []string{"a", "a/b", "=", "_", "=_/_=", "a/=/b", "x//y/"} {
		f.Add(seed, []byte(seed))
	}
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		canonical, err := kvstore.Normalize(key)
		if err != nil {
			return
		}
		leaf := etcdv2.LeafPath(canonical)
		segs := strings.Split(strings.TrimPrefix(leaf, "/"), "/")
		for _, seg := range segs[:len(segs)-1] {
			if seg == "=" || strings.HasPrefix(seg, "_") {
				t.Fatalf("key %q maps to %q: segment %q is reserved", canonical, leaf, seg)
			}
		}
		if back, ok := etcdv2.KeyOfFile(leaf); !ok || back != canonical {
			t.Fatalf("KeyOfFile(LeafPath(%q)) = %q, %v", canonical, back, ok)
		}
		if back, ok := etcdv2.KeyOfFile(etcdv2.NodePath(canonical)); !ok || back != canonical {
			t.Fatalf("KeyOfFile(NodePath(%q)) = %q, %v; want the key, read from a plain file", canonical, back, ok)
		}
		if got := etcdv2.DecodeValue(etcdv2.EncodeValue(value)); !bytes.Equal(got, value) || got == nil {
			t.Fatalf("value %q came back as %q", value, got)
		}
	})
}

// FuzzKeyOfFile checks the other way round: any v2 file that is read as a key is that key's
// value file or its plain file, so no two files ever claim one key and List never reports a
// key twice.
func FuzzKeyOfFile(f *testing.F) {
	for _, seed := range []string{"/a", "/a/=", "/==", "/=a", "/=_a/=", "/a/==/b", "/_a", "/=/="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		key, ok := etcdv2.KeyOfFile(p)
		if !ok {
			return
		}
		clean := "/" + strings.Trim(p, "/")
		if clean != etcdv2.LeafPath(key) && clean != etcdv2.NodePath(key) {
			t.Fatalf("KeyOfFile(%q) = %q, whose files are %q and %q", p, key, etcdv2.LeafPath(key), etcdv2.NodePath(key))
		}
	})
}
