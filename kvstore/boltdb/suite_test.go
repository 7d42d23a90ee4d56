package boltdb_test

import (
	"path/filepath"
	"testing"

	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/boltdb"
	"github.com/kvmirror/kvmirror/kvstore/kvtest"
)

// TestConformance runs the kvstore suite with every Store of a run on one shared file, as
// several clients of one server would be, in both connection modes.
func TestConformance(t *testing.T) {
	for _, persist := range []bool{false, true} {
		name := "per-call"
		if persist {
			name = "persistent"
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kv.db")
			kvtest.Suite{
				New: func(t *testing.T) kvstore.Store {
					st, err := boltdb.New(t.Context(), []string{path}, &kvstore.Config{Bucket: "kvtest", PersistConnection: persist})
					if err != nil {
						t.Fatal(err)
					}
					return st
				},
			}.Run(t)
		})
	}
}
