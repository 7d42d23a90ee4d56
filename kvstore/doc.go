// Package kvstore is one key/value API over etcd (v3 and v2 APIs), Consul, ZooKeeper and BoltDB,
// with the same behaviour on every backend.
//
// A Store is opened through a backend package (etcd.New, consul.New, ...) or, once the backend
// package is imported, by name or URL with Open and OpenURL:
//
//	import _ "github.com/kvmirror/kvmirror/kvstore/etcd"
//
//	store, err := kvstore.OpenURL(ctx, "etcd://10.0.0.1:2379,10.0.0.2:2379/", nil)
//
// Keys are '/'-separated paths. Leading, trailing and repeated slashes do not matter: "/a/b",
// "a/b" and "a//b/" name one key, and every key the package returns is in the canonical form
// "a/b" (see Normalize). Directories are implicit: a directory exists while a key exists below it.
//
// Watches report a deleted key as a nil *KVPair on the channel; see Store.Watch.
package kvstore
