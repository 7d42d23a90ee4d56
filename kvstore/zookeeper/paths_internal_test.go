package zookeeper

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEncodeName(t *testing.T) {
	for _, tc := range []struct {
		seg  string
		top  bool
		name string
	}{
		{"plain", false, "plain"},
		{"with space", false, "with space"},
		{"100%", false, "100%"},
		{"per%25cent", false, "per%25cent"},
		{"%{", false, "%{"},
		{"%{41}", false, "%{41}"},        // 'A' is never escaped, so this is no escape
		{"%{7A}", false, "%{25}{7A}"},    // reads as an escape: its '%' is escaped
		{"%{25}", false, "%{25}{25}"},    // likewise
		{"%%{25}", false, "%%{25}{25}"},  // only the '%' that starts an escape
		{"%{0025}", false, "%{0025}"},    // not canonical: no escape
		{"🔑", false, "%{1F511}"},         // outside the BMP
		{"a\ue000b", false, "a%{E000}b"}, // private use
		{"\ufff9x", false, "%{FFF9}x"},   // specials
		{"%{2F}", false, "%{2F}"},        // '/' is never escaped: literal text
		{"zookeeper", true, "%{7A}ookeeper"},
		{"zookeeper", false, "zookeeper"}, // reserved only at the server's root
		{"zookeeper2", true, "zookeeper2"},
		{"日本", false, "日本"},
	} {
		if got := encodeName(tc.seg, tc.top); got != tc.name {
			t.Errorf("encodeName(%q, %v) = %q, want %q", tc.seg, tc.top, got, tc.name)
		}
		if got, ok := decodeName(tc.name, tc.top); !ok || got != tc.seg {
			t.Errorf("decodeName(%q, %v) = %q, %v; want %q", tc.name, tc.top, got, ok, tc.seg)
		}
	}
}

// TestHiddenNames: names the encoder never produces are no keys.
func TestHiddenNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		top  bool
	}{
		{lockRoot, true},
		{lockRoot, false},
		{"zookeeper", true}, // the server's own node
		{"%{25}x", false},   // an escaped '%' not followed by an escape
		{"a%{7A}", false},   // 'z' escaped outside the reserved name
		{"%{A}", false},     // decodes to a control character
		{"%{80}", false},    // likewise (C1)
	} {
		if seg, ok := decodeName(tc.name, tc.top); ok {
			t.Errorf("decodeName(%q, %v) = %q, a key; want none", tc.name, tc.top, seg)
		}
	}
}

func TestLayout(t *testing.T) {
	root, chroot := layout{root: "/"}, layout{root: "/apps/kv"}
	for _, tc := range []struct {
		l         layout
		key, path string
	}{
		{root, "", "/"},
		{root, "a/b", "/a/b"},
		{root, "zookeeper/zookeeper", "/%{7A}ookeeper/zookeeper"},
		{chroot, "", "/apps/kv"},
		{chroot, "zookeeper/x", "/apps/kv/zookeeper/x"},
	} {
		if got := tc.l.path(tc.key); got != tc.path {
			t.Errorf("%v.path(%q) = %q, want %q", tc.l, tc.key, got, tc.path)
		}
	}
	if got := chroot.parent("/apps/kv/a"); got != "/apps/kv" {
		t.Errorf("parent = %q", got)
	}
	if got := chroot.parent("/apps/kv"); got != "" {
		t.Errorf("parent of the root = %q, want none", got)
	}
	if got := root.parent("/a"); got != "/" {
		t.Errorf("parent of /a = %q", got)
	}
}

// FuzzNames: every valid key segment encodes to a name ZooKeeper accepts and decodes back, and
// every name decodes to a segment that encodes back to it, or to nothing.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"a", "%{25}", "%{7A}ookeeper", "zookeeper", "🔑%{1F511}", "%%{", "\ufff0", lockRoot} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, top bool) {
		if validSegment(s) {
			name := encodeName(s, top)
			if strings.IndexFunc(name, forbidden) >= 0 || !utf8.ValidString(name) || strings.Contains(name, "/") {
				t.Fatalf("encodeName(%q) = %q, which ZooKeeper refuses", s, name)
			}
			if top && name == reservedName {
				t.Fatalf("encodeName(%q) is the server's reserved node", s)
			}
			if got, ok := decodeName(name, top); !ok || got != s {
				t.Fatalf("decodeName(encodeName(%q) = %q) = %q, %v", s, name, got, ok)
			}
		}
		if seg, ok := decodeName(s, top); ok {
			if got := encodeName(seg, top); got != s {
				t.Fatalf("encodeName(decodeName(%q) = %q) = %q", s, seg, got)
			}
		}
	})
}
