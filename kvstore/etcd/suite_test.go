package etcd_test

import (
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
)

// TestConformance runs the kvstore conformance suite against etcd 3.7, once in each key layout:
// the contract does not depend on where the keys are stored. etcd supports every capability.
// The suite's 2 s TTLs are etcd's default minimum lease TTL, so they are honoured exactly.
func TestConformance(t *testing.T) {
	for _, layout := range []string{kvstore.KeyLayoutSlash, kvstore.KeyLayoutPlain} {
		t.Run(layout, func(t *testing.T) {
			kvtest.Suite{
				New: func(t *testing.T) kvstore.Store {
					st, err := etcd.New(t.Context(), endpoints, &kvstore.Config{KeyLayout: layout})
					if err != nil {
						t.Fatal(err)
					}
					return st
				},
			}.Run(t)
		})
	}
}
