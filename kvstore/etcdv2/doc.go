// Package etcdv2 is the kvstore backend for the etcd v2 keys API (etcd 3.4 and older; etcd 3.4
// serves it only with --enable-v2). Importing the package registers it as "etcdv2":
//
//	store, err := etcdv2.New(ctx, []string{"10.0.0.1:2379"}, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
//	// or: import _ ".../kvstore/etcdv2"; kvstore.OpenURL(ctx, "etcdv2://10.0.0.1:2379", nil)
//
// # Layout
//
// A v2 node is a file (a value) or a directory (children), never both, while a kvstore key may
// hold a value and have keys below it. The Store hides this: every key is a directory, and its
// value is the file "=" inside it, so "a" and "a/b" are /a/= and /a/b/=. A key segment that
// begins with '=' or '_' is stored with one more '=' in front ("x/_y" is /x/=_y/=), so no
// segment can be taken for a value file, and none is hidden by etcd, which hides names that
// begin with '_'. Lock queues live under the hidden /_kvmirror, which List and WatchTree never
// see. Values that are not valid UTF-8 are stored base64-encoded after a NUL byte, as etcd's
// JSON answers would mangle them; text values are stored as they are.
//
// The layout is this package's own: a plain v2 file written by another client (at /a, say) is
// not a key for the Store, and it blocks writes of "a" and of keys below it with
// ErrForeignNode. Delete removes the directories it leaves empty; an expired key leaves its
// empty directory behind until a later Delete or DeleteTree below or above it.
//
// # Behaviour
//
// LastIndex is the value file's ModifiedIndex. TTLs are etcd's own, rounded up to whole
// seconds. Watch and WatchTree follow v2 watchers from the index of their first read; etcd keeps
// only its last 1000 events, so a watch that falls further behind reads afresh and skips to the
// present (see Store.Watch). Locks are TTL'd nodes refreshed by the holder (see Store.NewLock);
// a lock key's LastIndex changes with every refresh, without a watch event.
package etcdv2
