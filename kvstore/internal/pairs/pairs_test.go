package pairs_test

import (
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/internal/pairs"
)

func TestClone(t *testing.T) {
	t.Parallel()
	if pairs.Clone(nil) != nil {
		t.Error("Clone(nil) is not nil")
	}
	p := &kvstore.KVPair{Key: "a", Value: []byte("v"), LastIndex: 3}
	c := pairs.Clone(p)
	c.Value[0] = 'x'
	if string(p.Value) != "v" || c.Key != "a" || c.LastIndex != 3 {
		t.Errorf("Clone shares its value or lost a field: original %+v, clone %+v", p, c)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	a := []*kvstore.KVPair{{Key: "a", Value: []byte("1"), LastIndex: 1}}
	sameValue := []*kvstore.KVPair{{Key: "a", Value: []byte("1"), LastIndex: 1}}
	otherValue := []*kvstore.KVPair{{Key: "a", Value: []byte("2"), LastIndex: 1}}
	rewritten := []*kvstore.KVPair{{Key: "a", Value: []byte("1"), LastIndex: 2}}
	tests := []struct {
		name              string
		b                 []*kvstore.KVPair
		sameWrites, equal bool
	}{
		{"identical", sameValue, true, true},
		{"other value, same index", otherValue, true, false},
		{"same value rewritten", rewritten, false, false},
		{"shorter", nil, false, false},
	}
	nilEntry := []*kvstore.KVPair{nil}
	if pairs.Equal(a, nilEntry) || pairs.Equal(nilEntry, a) || !pairs.Equal(nilEntry, []*kvstore.KVPair{nil}) {
		t.Error("Equal: a nil entry must equal only a nil entry")
	}
	for _, tt := range tests {
		if got := pairs.SameWrites(a, tt.b); got != tt.sameWrites {
			t.Errorf("%s: SameWrites = %v, want %v", tt.name, got, tt.sameWrites)
		}
		if got := pairs.Equal(a, tt.b); got != tt.equal {
			t.Errorf("%s: Equal = %v, want %v", tt.name, got, tt.equal)
		}
	}
}
