package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestToolWrittenKeys: a mirror shows a prefix written by the store's own command-line tool,
// nested keys, keys with data on a parent key, Consul flags and folders, ZooKeeper's null-data
// directories included, and follows the tool's later writes and deletions through its watch
// alone (the resync is a day away).
func TestToolWrittenKeys(t *testing.T) {
	t.Parallel()
	t.Run("consul kv put", func(t *testing.T) {
		t.Parallel()
		h, eps, p := startSuite(t), testserver.Consul(t).Endpoints, randomPrefix()
		put := func(args ...string) { testserver.ConsulKV(t, eps, "put", args...) }
		put(p+"/app", "x")
		put("-flags=42", p+"/app/config", "host=db port=5432")
		put(p+"/db/host", "db.local")
		put(p + "/folder/") // a folder, as Consul's UI makes it: no key
		put(p+"x/sibling", "shares the prefix as a string only")
		h.createMirror(t, "consul-cli", toolMirror(v1alpha1.BackendConsul, eps, p))
		h.eventuallyData(t, "consul-cli", map[string]string{
			"app": "x", "app.config": "host=db port=5432", "db.host": "db.local",
		})
		put("-flags=7", p+"/db/host", "db2.local")
		testserver.ConsulKV(t, eps, "delete", p+"/app")
		h.eventuallyData(t, "consul-cli", map[string]string{"app.config": "host=db port=5432", "db.host": "db2.local"})
	})
	t.Run("zkCli", func(t *testing.T) {
		t.Parallel()
		h, eps, p := startSuite(t), testserver.ZooKeeper(t).Endpoints, randomPrefix()
		testserver.ZkCli(t, eps, "create /kvmirror-test", "create /"+p,
			"create /"+p+`/app "x"`,
			"create /"+p+`/app/config "host=db port=5432"`,
			"create /"+p+"/dir",
			"create /"+p+`/dir/leaf "deep"`,
			"create /"+p+`x "shares the prefix as a string only"`,
		)
		h.createMirror(t, "zkcli", toolMirror(v1alpha1.BackendZooKeeper, eps, p))
		h.eventuallyData(t, "zkcli", map[string]string{"app": "x", "app.config": "host=db port=5432", "dir.leaf": "deep"})
		testserver.ZkCli(t, eps, "set /"+p+`/app "y"`, "delete /"+p+"/dir/leaf", "create /"+p+`/dir/new "n"`)
		h.eventuallyData(t, "zkcli", map[string]string{"app": "y", "app.config": "host=db port=5432", "dir.new": "n"})
	})
}

// toolMirror is the spec of a mirror of prefix that reads only through its watch.
func toolMirror(typ v1alpha1.BackendType, eps []string, prefix string) v1alpha1.KVMirrorSpec {
	return v1alpha1.KVMirrorSpec{
		Backend:      v1alpha1.BackendSpec{Type: typ, Endpoints: eps},
		Prefix:       prefix,
		ResyncPeriod: &metav1.Duration{Duration: 24 * time.Hour},
	}
}
