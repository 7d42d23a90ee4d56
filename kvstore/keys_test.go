package kvstore_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kvmirror/kvmirror/kvstore"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		key     string
		want    string
		wantErr bool
	}{
		{key: "a/b", want: "a/b"},
		{key: "/a/b", want: "a/b"},
		{key: "a//b/", want: "a/b"},
		{key: "///a///b///", want: "a/b"},
		{key: "a", want: "a"},
		{key: "a.b/c-d_e", want: "a.b/c-d_e"},
		{key: "ünï/cødé/日本", want: "ünï/cødé/日本"},
		{key: "a/.../b", want: "a/.../b"},
		{key: "a b/c", want: "a b/c"},
		{key: "", wantErr: true},
		{key: "/", wantErr: true},
		{key: "////", wantErr: true},
		{key: "a/\x00/b", wantErr: true},
		{key: "a\nb", wantErr: true},
		{key: "a\x7fb", wantErr: true},
		{key: "a\u0085b", wantErr: true},
		{key: "a/../b", wantErr: true},
		{key: "./a", wantErr: true},
		{key: "a/..", wantErr: true},
		{key: "a/\xff", wantErr: true},
		{key: strings.Repeat("k", kvstore.MaxKeyLength), want: strings.Repeat("k", kvstore.MaxKeyLength)},
		{key: strings.Repeat("k", kvstore.MaxKeyLength+1), wantErr: true},
	}
	for _, tt := range tests {
		got, err := kvstore.Normalize(tt.key)
		if tt.wantErr {
			if !errors.Is(err, kvstore.ErrInvalidKey) {
				t.Errorf("Normalize(%q) = %q, %v; want ErrInvalidKey", tt.key, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tt.key, got, err, tt.want)
		}
	}
}

func TestNormalizeDir(t *testing.T) {
	for _, root := range []string{"", "/", "//"} {
		if got, err := kvstore.NormalizeDir(root); got != "" || err != nil {
			t.Errorf("NormalizeDir(%q) = %q, %v; want the root", root, got, err)
		}
	}
	if got, err := kvstore.NormalizeDir("/app/"); got != "app" || err != nil {
		t.Errorf("NormalizeDir(/app/) = %q, %v", got, err)
	}
	if _, err := kvstore.NormalizeDir("a/../b"); !errors.Is(err, kvstore.ErrInvalidKey) {
		t.Errorf("NormalizeDir(a/../b) = %v, want ErrInvalidKey", err)
	}
}

func TestIsBelow(t *testing.T) {
	tests := []struct {
		dir, key string
		want     bool
	}{
		{"app", "app/x", true},
		{"app", "app/x/y", true},
		{"app", "app", false},
		{"app", "apple/x", false},
		{"app", "app2", false},
		{"app", "ap", false},
		{"", "anything", true},
		{"", "", false},
		{"a/b", "a/b/c", true},
		{"a/b", "a/bc", false},
	}
	for _, tt := range tests {
		if got := kvstore.IsBelow(tt.dir, tt.key); got != tt.want {
			t.Errorf("IsBelow(%q, %q) = %v, want %v", tt.dir, tt.key, got, tt.want)
		}
	}
}

func TestJoin(t *testing.T) {
	if got := kvstore.Join("a/", "/b", "", "c"); got != "a/b/c" {
		t.Errorf("Join = %q, want a/b/c", got)
	}
}

// FuzzNormalize checks that a normalised key is canonical, stable, valid and names the same
// segments as its input.
func FuzzNormalize(f *testing.F) {
	for _, seed := range []string{"a/b", "/a//b/", "", "/", "a/../b", "\x00", "日本/語", "a\xffb", strings.Repeat("/x", 50)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		got, err := kvstore.Normalize(key)
		if err != nil {
			if !errors.Is(err, kvstore.ErrInvalidKey) {
				t.Fatalf("Normalize(%q): error %v is not ErrInvalidKey", key, err)
			}
			return
		}
		if got == "" || strings.HasPrefix(got, "/") || strings.HasSuffix(got, "/") || strings.Contains(got, "//") {
			t.Fatalf("Normalize(%q) = %q is not canonical", key, got)
		}
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) || len(got) > kvstore.MaxKeyLength {
			t.Fatalf("Normalize(%q) = %q is not valid", key, got)
		}
		again, err := kvstore.Normalize(got)
		if err != nil || again != got {
			t.Fatalf("Normalize is not idempotent on %q: %q, %v", got, again, err)
		}
		if strings.ReplaceAll(got, "/", "") != strings.ReplaceAll(key, "/", "") {
			t.Fatalf("Normalize(%q) = %q changed more than slashes", key, got)
		}
	})
}
