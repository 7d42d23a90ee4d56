package consul

import (
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore"
)

func TestParseEndpoints(t *testing.T) {
	tests := []struct {
		in     []string
		tls    bool
		want   []endpoint
		errors bool
	}{
		{in: []string{"127.0.0.1:8500"}, want: []endpoint{{"http", "127.0.0.1:8500"}}},
		{in: []string{"127.0.0.1:8501"}, tls: true, want: []endpoint{{"https", "127.0.0.1:8501"}}},
		{in: []string{" http://a:1/ ", "", "HTTPS://b:2"}, want: []endpoint{{"http", "a:1"}, {"https", "b:2"}}},
		{in: []string{"https://a:1"}, tls: true, want: []endpoint{{"https", "a:1"}}},
		{in: []string{"http://a:1"}, tls: true, errors: true},
		{in: []string{"unix:///var/run/consul.sock"}, errors: true},
		{in: []string{"a:1/v1"}, errors: true},
		{in: []string{"user@a:1"}, errors: true},
		{in: nil, errors: true},
		{in: []string{"", " "}, errors: true},
	}
	for _, tc := range tests {
		got, err := parseEndpoints(tc.in, tc.tls)
		if tc.errors {
			if !errors.Is(err, kvstore.ErrInvalidOption) {
				t.Errorf("parseEndpoints(%q, tls %v) = %v, %v; want ErrInvalidOption", tc.in, tc.tls, got, err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("parseEndpoints(%q, tls %v) = %v, %v; want %v", tc.in, tc.tls, got, err, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseEndpoints(%q, tls %v)[%d] = %v, want %v", tc.in, tc.tls, i, got[i], tc.want[i])
			}
		}
	}
}

// FuzzParseEndpoints: any input is refused with ErrInvalidOption or gives endpoints a URL can be
// built from.
func FuzzParseEndpoints(f *testing.F) {
	for _, seed := range []string{"127.0.0.1:8500", "https://h:1", "http://", "://x", "a/b", "[::1]:8500"} {
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, raw string, useTLS bool) {
		eps, err := parseEndpoints([]string{raw}, useTLS)
		if err != nil {
			if !errors.Is(err, kvstore.ErrInvalidOption) {
				t.Fatalf("error %v is not ErrInvalidOption", err)
			}
			return
		}
		for _, ep := range eps {
			if ep.host == "" || (ep.scheme != "http" && ep.scheme != "https") || useTLS && ep.scheme != "https" {
				t.Fatalf("parseEndpoints(%q, %v) = %+v", raw, useTLS, ep)
			}
		}
	})
}

// TestSessionTTL: half the wanted lifetime, raised to the agent's minimum once known, at most 24h.
func TestSessionTTL(t *testing.T) {
	tests := []struct {
		lifetime, minTTL, want time.Duration
	}{
		{2 * time.Second, 0, time.Second},
		{2 * time.Second, time.Second, time.Second},
		{300 * time.Millisecond, time.Second, time.Second},
		{15 * time.Second, 10 * time.Second, 10 * time.Second},
		{30 * time.Second, 10 * time.Second, 15 * time.Second},
		{100 * time.Hour, time.Second, 24 * time.Hour},
		{time.Nanosecond, 0, time.Millisecond},
	}
	for _, tc := range tests {
		s := &Store{}
		s.minSessionTTL.Store(int64(tc.minTTL))
		if got := s.sessionTTL(tc.lifetime); got != tc.want {
			t.Errorf("sessionTTL(%s) with minimum %s = %s, want %s", tc.lifetime, tc.minTTL, got, tc.want)
		}
	}
}

func TestParseMinTTL(t *testing.T) {
	tests := []struct {
		err     error
		want    time.Duration
		refused bool
	}{
		{api.StatusError{Code: 500, Body: "Invalid Session TTL '500000000', must be between [1s=24h0m0s]"}, time.Second, true},
		{api.StatusError{Code: 500, Body: "rpc error: Invalid Session TTL '3000000000', must be between [10s=24h0m0s]"}, 10 * time.Second, true},
		{api.StatusError{Code: 500, Body: "Invalid Session TTL, reworded"}, defaultMinSessionTTL, true},
		{api.StatusError{Code: 403, Body: "Permission denied"}, 0, false},
		{errors.New("dial tcp: connection refused"), 0, false},
	}
	for _, tc := range tests {
		got, refused := parseMinTTL(tc.err)
		if got != tc.want || refused != tc.refused {
			t.Errorf("parseMinTTL(%v) = %s, %v; want %s, %v", tc.err, got, refused, tc.want, tc.refused)
		}
	}
}

// TestKeyWatchEvents: what a watch sends for each state a blocking query returns.
func TestKeyWatchEvents(t *testing.T) {
	entry := func(create, modify uint64, value string) *api.KVPair {
		return &api.KVPair{Key: "k", Value: []byte(value), CreateIndex: create, ModifyIndex: modify}
	}
	steps := []struct {
		cur  *api.KVPair
		want []string // values sent; "<nil>" for a deletion
	}{
		{nil, nil},                                   // missing at first: nothing
		{entry(5, 5, "a"), []string{"a"}},            // created
		{entry(5, 5, "a"), nil},                      // spurious wake-up: nothing
		{entry(5, 7, "a"), []string{"a"}},            // same-value write: sent
		{entry(5, 6, "old"), nil},                    // an older state (index reset): never go back
		{nil, []string{"<nil>"}},                     // deleted
		{nil, nil},                                   // still deleted
		{entry(9, 9, "b"), []string{"b"}},            // created again
		{entry(12, 12, "c"), []string{"<nil>", "c"}}, // deleted and created between two queries
	}
	w := &keyWatch{}
	for i, step := range steps {
		var got []string
		for _, ev := range w.events(step.cur) {
			if ev == nil {
				got = append(got, "<nil>")
			} else {
				got = append(got, string(ev.Value))
			}
		}
		if len(got) != len(step.want) {
			t.Fatalf("step %d: sent %q, want %q", i, got, step.want)
		}
		for j := range got {
			if got[j] != step.want[j] {
				t.Fatalf("step %d: sent %q, want %q", i, got, step.want)
			}
		}
	}
}

func TestPrintablePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"a/b c/d":           "a/b c/d",
		"a/b\u200bc":        "a/b",
		"dir/\ue000private": "dir/",
		"\u00a0nbsp":        "",
		"日本/🔑/é":            "日本/🔑/é",
		"q?x=1/frag#ment/%": "q?x=1/frag#ment/%",
	} {
		if got := printablePrefix(in); got != want {
			t.Errorf("printablePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFlagsOver: every write changes bit 0, so that Consul records same-value writes, and keeps
// the kind in the other bits.
func TestFlagsOver(t *testing.T) {
	first := flagsOver(flagTTL, nil)
	second := flagsOver(flagTTL, &api.KVPair{Flags: first})
	third := flagsOver(flagTTL, &api.KVPair{Flags: second})
	if first == second || second == third || first != third {
		t.Errorf("flags %x, %x, %x: want alternating", first, second, third)
	}
	for _, f := range []uint64{first, second} {
		if kindOf(f) != flagTTL {
			t.Errorf("kindOf(%x) = %x, want flagTTL", f, kindOf(f))
		}
	}
	if kindOf(flagsOver(0, &api.KVPair{Flags: flagLock})) != 0 || kindOf(flagLock|1) != flagLock {
		t.Error("kinds mixed up")
	}
}
