package etcd_test

import (
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
)

// TestConformance runs the kvstore conformance suite against etcd 3.7. etcd supports every
// capability. The suite's 2 s TTLs are etcd's default minimum lease TTL, so they are honoured
// exactly.
func TestConformance(t *testing.T) {
	kvtest.Suite{
		New: func(t *testing.T) kvstore.Store {
			st, err := etcd.New(t.Context(), endpoints, nil)
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}.Run(t)
}
