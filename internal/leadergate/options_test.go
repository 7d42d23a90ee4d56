package leadergate

import (
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/kvmirror/kvmirror/kvstore/leadership"
)

func TestBindFlagsDefaults(t *testing.T) {
	fs := flag.NewFlagSet("manager", flag.ContinueOnError)
	o := BindFlags(fs)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if o.Enabled() || o.Key != "kvmirror/leader" || o.TTL != leadership.DefaultTTL || o.StoreTimeout != 5*time.Second {
		t.Errorf("defaults: %+v", o)
	}
	for _, name := range []string{"store", "key", "ttl", "identity", "ca-file", "cert-file", "key-file",
		"server-name", "username", "password-file", "token-file", "store-timeout"} {
		if fs.Lookup("leader-elect-"+name) == nil {
			t.Errorf("flag --leader-elect-%s is missing", name)
		}
	}
}

func TestComplete(t *testing.T) {
	parse := func(t *testing.T, args ...string) (*Options, error) {
		fs := flag.NewFlagSet("manager", flag.ContinueOnError)
		o := BindFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return o, o.Complete()
	}
	if o, err := parse(t); err != nil || o.Identity != "" {
		t.Errorf("no store: Complete() = %v, identity %q; want nothing done", err, o.Identity)
	}
	o, err := parse(t, "--leader-elect-store=etcd://h:2379")
	if err != nil || o.Identity == "" || o.Open == nil || o.Retry.Duration != time.Second || o.Retry.Cap != 10*time.Second {
		t.Errorf("Complete() = %v, options %+v; want the defaults", err, o)
	}
	if _, err := parse(t, "--leader-elect-store=etcd://h:2379", "--leader-elect-ttl=500ms"); err == nil ||
		!strings.Contains(err.Error(), "--leader-elect-ttl") {
		t.Errorf("short TTL: %v", err)
	}
	if _, err := parse(t, "--leader-elect-store=etcd://h:2379", "--leader-elect-cert-file=c.pem"); err == nil ||
		!strings.Contains(err.Error(), "go together") {
		t.Errorf("cert without key: %v", err)
	}
	if o, err := parse(t, "--leader-elect-store=etcd://h:2379", "--leader-elect-identity=me"); err != nil || o.Identity != "me" {
		t.Errorf("identity: %q, %v", o.Identity, err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"etcd://h1:2379,h2:2379":      "etcd://h1:2379,h2:2379",
		"etcd://user:secret@h1:2379":  "etcd://***@h1:2379",
		"consul://token@h:8500/a?b=c": "consul://***@h:8500/a?b=c",
		"not a url":                   "not a url",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
