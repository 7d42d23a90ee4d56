package controllers

import (
	"strings"
	"testing"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
)

func TestMapKey(t *testing.T) {
	long := strings.Repeat("k", 253)
	tests := []struct {
		name, prefix, key string
		sep               v1alpha1.Separator
		want              string
		reason            v1alpha1.SkipReason
	}{
		{name: "flat", prefix: "app", key: "app/host", sep: ".", want: "host"},
		{name: "deep", prefix: "app", key: "app/db/primary/host", sep: ".", want: "db.primary.host"},
		{name: "underscore", prefix: "app", key: "app/db/host", sep: "_", want: "db_host"},
		{name: "dash", prefix: "app", key: "app/db/host", sep: "-", want: "db-host"},
		{name: "nested prefix", prefix: "a/b", key: "a/b/c/d", sep: ".", want: "c.d"},
		{name: "root prefix", prefix: "", key: "x/y", sep: ".", want: "x.y"},
		{name: "dots kept", prefix: "app", key: "app/log.level", sep: ".", want: "log.level"},
		{name: "longest valid", prefix: "app", key: "app/" + long, sep: ".", want: long},
		{name: "too long", prefix: "app", key: "app/" + long + "k", sep: ".", reason: v1alpha1.SkipInvalidConfigMapKey},
		{name: "long after mapping", prefix: "app", key: "app/" + long[:200] + "/" + long[:53], sep: ".", reason: v1alpha1.SkipInvalidConfigMapKey},
		{name: "space", prefix: "app", key: "app/a b", sep: ".", reason: v1alpha1.SkipInvalidConfigMapKey},
		{name: "unicode", prefix: "app", key: "app/größe", sep: ".", reason: v1alpha1.SkipInvalidConfigMapKey},
		{name: "colon", prefix: "app", key: "app/a:b", sep: ".", reason: v1alpha1.SkipInvalidConfigMapKey},
		{name: "starts with dotdot", prefix: "app", key: "app/..hidden", sep: ".", reason: v1alpha1.SkipInvalidConfigMapKey},
		{name: "dot segment then sep", prefix: "app", key: "app/./x", sep: ".", reason: v1alpha1.SkipInvalidKey},
		{name: "dotdot segment", prefix: "app", key: "app/../etc", sep: ".", reason: v1alpha1.SkipInvalidKey},
		{name: "dotdot leaf", prefix: "app", key: "app/..", sep: ".", reason: v1alpha1.SkipInvalidKey},
		{name: "control byte", prefix: "app", key: "app/a\x01b", sep: ".", reason: v1alpha1.SkipInvalidKey},
		{name: "NUL", prefix: "app", key: "app/a\x00", sep: ".", reason: v1alpha1.SkipInvalidKey},
		{name: "invalid UTF-8", prefix: "app", key: "app/\xff", sep: ".", reason: v1alpha1.SkipInvalidKey},
		{name: "sibling sharing string prefix", prefix: "app", key: "apple/x", sep: ".", reason: v1alpha1.SkipInvalidKey},
		{name: "the prefix itself", prefix: "app", key: "app", sep: ".", reason: v1alpha1.SkipInvalidKey},
		{name: "leading dot becomes ..", prefix: "app", key: "app/./", sep: ".", reason: v1alpha1.SkipInvalidKey},
		{name: "segment starting with dot", prefix: "app", key: "app/.env", sep: ".", want: ".env"},
		{name: "dot segment start with sep dot", prefix: "app", key: "app/.a/b", sep: ".", want: ".a.b"},
		{name: "empty segment after dot sep", prefix: "app", key: "app/a./b", sep: ".", want: "a..b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, msg := mapKey(tt.prefix, kvstore.Canonical(tt.key), tt.sep)
			if reason != tt.reason || got != tt.want {
				t.Fatalf("mapKey(%q, %q, %q) = %q, %q (%s); want %q, %q", tt.prefix, tt.key, tt.sep, got, reason, msg, tt.want, tt.reason)
			}
			if reason == "" && len(validation.IsConfigMapKey(got)) > 0 {
				t.Fatalf("mapKey produced invalid ConfigMap key %q", got)
			}
			if reason != "" && msg == "" {
				t.Fatalf("a skipped key needs a message")
			}
		})
	}
}

func pairs(kv ...string) []*kvstore.KVPair {
	var out []*kvstore.KVPair
	for i := 0; i < len(kv); i += 2 {
		out = append(out, &kvstore.KVPair{Key: kv[i], Value: []byte(kv[i+1]), LastIndex: uint64(i + 1)})
	}
	return out
}

func TestMapPairs(t *testing.T) {
	t.Run("data, binary and empty values", func(t *testing.T) {
		in := append(pairs("p/a", "1", "p/b/c", "", "p/u", "größe ✓"),
			&kvstore.KVPair{Key: "p/bin", Value: []byte{0xff, 0x00, 0xfe}, LastIndex: 42})
		m := mapPairs("p", inLayout("", in), ".")
		wantData := map[string]string{"a": "1", "b.c": "", "u": "größe ✓"}
		if len(m.Data) != len(wantData) || m.Keys != 4 || len(m.Skipped) != 0 {
			t.Fatalf("got %+v", m)
		}
		for k, v := range wantData {
			if got, ok := m.Data[k]; !ok || got != v {
				t.Errorf("data[%q] = %q, %v; want %q", k, got, ok, v)
			}
		}
		if string(m.BinaryData["bin"]) != "\xff\x00\xfe" {
			t.Errorf("binaryData[bin] = %q", m.BinaryData["bin"])
		}
		if m.MaxIndex != 42 {
			t.Errorf("MaxIndex = %d, want 42", m.MaxIndex)
		}
		wantBytes := int64(len("a1") + len("b.c") + len("ugröße ✓") + len("bin") + 3)
		if m.Bytes != wantBytes {
			t.Errorf("Bytes = %d, want %d", m.Bytes, wantBytes)
		}
	})

	t.Run("collisions skip every key involved", func(t *testing.T) {
		// "a/b" and "a.b" both become "a.b"; "x" and "x/" are one key once canonical (a raw
		// client can store both).
		m := mapPairs("p", inLayout("", pairs("p/a/b", "1", "p/a.b", "2", "p/ok", "3", "p/x", "4", "p/x/", "5")), ".")
		if len(m.Data) != 1 || m.Data["ok"] != "3" {
			t.Fatalf("data = %v, want only ok", m.Data)
		}
		if len(m.Skipped) != 4 {
			t.Fatalf("skipped = %+v, want 4", m.Skipped)
		}
		for _, s := range m.Skipped {
			if s.Reason != v1alpha1.SkipCollision || !strings.Contains(s.Message, "map to ConfigMap key") {
				t.Errorf("skipped %+v, want a collision", s)
			}
		}
	})

	t.Run("no collision with another separator", func(t *testing.T) {
		m := mapPairs("p", inLayout("", pairs("p/a/b", "1", "p/a.b", "2")), "_")
		if m.Data["a_b"] != "1" || m.Data["a.b"] != "2" || len(m.Skipped) != 0 {
			t.Fatalf("got %+v", m)
		}
	})

	t.Run("order does not matter", func(t *testing.T) {
		in := pairs("p/z", "1", "p/a/b", "2", "p/a.b", "3", "p/\x01", "4", "p/m", "5")
		a := mapPairs("p", inLayout("", in), ".")
		rev := make([]*kvstore.KVPair, len(in))
		for i, p := range in {
			rev[len(in)-1-i] = p
		}
		b := mapPairs("p", inLayout("", rev), ".")
		if len(a.Data) != len(b.Data) || len(a.Skipped) != len(b.Skipped) {
			t.Fatalf("%+v != %+v", a, b)
		}
		for i := range a.Skipped {
			if a.Skipped[i] != b.Skipped[i] {
				t.Fatalf("skipped[%d]: %+v != %+v", i, a.Skipped[i], b.Skipped[i])
			}
		}
	})

	t.Run("hostile keys are shown safely", func(t *testing.T) {
		long := strings.Repeat("€", 2000) // 6000 bytes, over kvstore's limit too
		m := mapPairs("p", inLayout("", pairs("p/a\x00b", "1", "p/"+long, "2", "p/\xff\xfe", "3")), ".")
		if len(m.Data)+len(m.BinaryData) != 0 || len(m.Skipped) != 3 {
			t.Fatalf("got %+v", m)
		}
		for _, s := range m.Skipped {
			if !utf8.ValidString(s.Key) || len(s.Key) > maxDisplayKey || strings.ContainsAny(s.Key, "\x00\x01") {
				t.Errorf("unsafe display key %q", s.Key)
			}
		}
	})
}

func TestDisplayKey(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          "plain",
		"größe":          "größe",
		"a\x01b":         `"a\x01b"`,
		"\xff":           `"\xff"`,
		"tab\there":      `"tab\there"`,
		"line\nbreak":    `"line\nbreak"`,
		"trailing space": "trailing space",
	} {
		if got := displayKey(in); got != want {
			t.Errorf("displayKey(%q) = %q, want %q", in, got, want)
		}
	}
	if got := displayKey(strings.Repeat("x", 1000)); len(got) != maxDisplayKey || !strings.HasSuffix(got, "...") {
		t.Errorf("long key shown as %d bytes %q", len(got), got[len(got)-5:])
	}
}

// FuzzMapKey checks the two promises of the mapping rule on any input: a key it maps is a valid
// ConfigMap key, and the same input always maps the same way.
func FuzzMapKey(f *testing.F) {
	for _, seed := range []struct{ prefix, key, sep string }{
		{"app", "app/db/host", "."},
		{"app", "app/..", "."},
		{"app", "app/..x", "_"},
		{"a/b", "a/b//c/", "-"},
		{"", "x", "."},
		{"app", "app/\x00", "."},
		{"app", "app/" + strings.Repeat("k", 300), "."},
		{"p", "p/a.b/c", "."},
	} {
		f.Add(seed.prefix, seed.key, seed.sep)
	}
	seps := []v1alpha1.Separator{".", "_", "-"}
	f.Fuzz(func(t *testing.T, prefix, key, sepIn string) {
		prefix = kvstore.Canonical(prefix)
		key = kvstore.Canonical(key)
		sep := seps[len(sepIn)%len(seps)]
		got, reason, msg := mapKey(prefix, key, sep)
		again, reason2, msg2 := mapKey(prefix, key, sep)
		if got != again || reason != reason2 || msg != msg2 {
			t.Fatalf("not deterministic: %q/%q vs %q/%q", got, reason, again, reason2)
		}
		if reason == "" {
			if errs := validation.IsConfigMapKey(got); len(errs) > 0 {
				t.Fatalf("mapKey(%q, %q, %q) = %q, an invalid ConfigMap key: %v", prefix, key, sep, got, errs)
			}
			return
		}
		if got != "" || msg == "" {
			t.Fatalf("skipped key with result %q and message %q", got, msg)
		}
		if d := displayKey(key); !utf8.ValidString(d) || len(d) > maxDisplayKey {
			t.Fatalf("displayKey(%q) = %q is unsafe", key, d)
		}
	})
}
