// Package etcdv2 is the kvstore backend for the etcd v2 keys API (etcd 3.4 and older; etcd 3.4
// serves it only with --enable-v2). Importing the package registers it as "etcdv2":
//
//	store, err := etcdv2.New(ctx, []string{"10.0.0.1:2379"}, &kvstore.Config{ConnectionTimeout: 5 * time.Second})
//	// or: import _ ".../kvstore/etcdv2"; kvstore.OpenURL(ctx, "etcdv2://10.0.0.1:2379", nil)
//
// # Layout
//
// A v2 node is a file (a value) or a directory (children), never both, while a kvstore key may hold
// a value and have keys below it. The Store hides this: every key it creates is a directory, and
// its value is the file "=" inside it, so "a" and "a/b" are /a/= and /a/b/=. A key segment that
// begins with '=' or '_' is stored with one more '=' in front ("x/_y" is /x/=_y/=), so no segment
// can be taken for a value file, and none is hidden by etcd, which hides names that begin with '_'.
// Lock queues live under the hidden /_kvmirror, which List and WatchTree never see. Values that are
// not valid UTF-8 are stored base64-encoded after a NUL byte, as etcd's JSON answers would mangle
// them; text values are stored as they are.
//
// # Plain v2 data
//
// Trees written by other v2 clients (etcdctl set /app/db/host x, confd's users) are read as
// they are: a plain v2 file is a key, named by its path, so /app/db/host is the key
// "app/db/host". Get, Exists, List, Watch and WatchTree report it with the file's
// ModifiedIndex as LastIndex, alongside the keys of the layout above, and List sorts the two
// together. A v2 node is a file or a directory, so a key is one or the other, never both. The
// path is read through the same escaping as the layout's, so that Get, Put and List of a key
// all reach one node: a plain name that begins with '=' is the key without that '=' when the
// next character is '=' or '_' ("/==x" is "=x"), and no key otherwise ("/=x"); a plain name
// that begins with '_' is no key (etcd hides it from listings and watches), nor is a name that
// kvstore does not accept as a key segment. Values are decoded as the layout's are: text as it
// is, which is what other clients write.
//
// Writes keep a plain key plain, so that the clients sharing the tree go on reading it:
//
//   - Put updates the file in place (with the TTL of the Put, or none); a key that does not
//     exist is always created in the layout.
//   - AtomicPut compares and swaps the file in place, by its ModifiedIndex; a create finds the
//     key there (kvstore.ErrKeyExists).
//   - Delete and AtomicDelete delete the file (AtomicDelete by its ModifiedIndex), then the
//     directories this leaves empty. DeleteTree of a plain key deletes the file.
//   - A lock on a plain key holds it in place, and deletes the file when it is released, as it
//     deletes the key of the layout.
//
// One write cannot be made: a key below a plain file ("app/db/host/port" while "app/db/host" is a
// file), because etcd v2 cannot give a file children, and turning the file into a directory is
// neither atomic nor harmless to the clients that read it. Put, AtomicPut's create and Lock then
// fail with a *PlainFileError naming the file's key, which errors.Is(err, ErrForeignNode) matches;
// Delete, AtomicDelete and AtomicPut with a previous pair find no such key
// (kvstore.ErrKeyNotFound), as Get does.
// The remedy is to delete the plain key first (a Put then writes it in the layout, as a directory
// that can hold keys below it too) or to keep the trees apart. The other ErrForeignNode is a
// directory named "=" where a key's value file belongs, which only another v2 client makes.
//
// Delete removes the directories it leaves empty; an expired key leaves its empty directory
// behind until a later Delete or DeleteTree below or above it.
//
// # Behaviour
//
// LastIndex is the ModifiedIndex of the file that holds the key. TTLs are etcd's own, rounded up to
// whole seconds. Watch and WatchTree follow recursive v2 watchers from the index of their first
// read (Watch is recursive so that it follows both forms of a key; writes below the key wake it and
// are dropped); etcd keeps only its last 1000 events, so a watch that falls further behind reads
// afresh and skips to the present (see Store.Watch). Locks are TTL'd nodes refreshed by the holder
// (see Store.NewLock); a lock key's LastIndex changes with every refresh, without a watch event.
package etcdv2
