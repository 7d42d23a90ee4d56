// Package etcd is the kvstore backend for etcd's v3 API (etcd 3.x clusters).
//
// Open a Store with New, or by name once the package is imported:
//
//	store, err := etcd.New(ctx, []string{"10.0.0.1:2379", "10.0.0.2:2379"}, &kvstore.Config{
//		TLS:      tlsConfig,          // nil for plain connections
//		Username: "app", Password: pw, // when etcd's authentication is on
//	})
//	store, err := kvstore.OpenURL(ctx, "etcd://app:pw@10.0.0.1:2379/?timeout=5s&layout=plain", nil)
//
// New returns once a member has answered, so a wrong address, certificate or password is an
// error of New, given within Config.ConnectionTimeout. Every later request is bounded by that
// timeout as well; a backend that does not answer in time gives kvstore.ErrUnreachable.
//
// # Key layout
//
// Tools disagree on how to name a key in etcd v3, so the layout is a choice, made with
// kvstore.Config.KeyLayout or the URL parameter layout=slash|plain, and fixed for the Store's
// life:
//
//   - kvstore.KeyLayoutSlash, the default: the kvstore key "a/b" is the etcd key "/a/b", as etcd
//     v2 stored every key, and as tools that came from v2 (confd, etcdctl users who write
//     "etcdctl put /a/b") name them. The etcd and etcdv2 backends name a key alike in it. Every
//     Store before the choice existed used it.
//   - kvstore.KeyLayoutPlain: "a/b" is the etcd key "a/b", as "etcdctl put a/b", the kvtools and
//     valkeyrie etcdv3 stores and Traefik's KV provider write it.
//
// A Store sees only the keys of its layout: etcdctl put a/b is visible to a plain Store only,
// etcdctl put /a/b to a slash Store only. List and WatchTree of "a" are ranges over the prefix
// "/a/" (slash) or "a/" (plain), which no sibling such as "apple" shares. The root is the range
// over "/" (slash), or every key that starts with a printable character other than "/" (plain),
// which leaves out the slash layout's keys and lock bookkeeping. A WatchTree of the plain root
// receives, and discards, the events of "/"-prefixed keys, as etcd watches one range; on an etcd
// that also holds Kubernetes' "/registry", watch a directory instead. An etcd key that another
// tool wrote in a non-canonical form ("/a//b", "a/") is skipped, as it would otherwise show one
// kvstore key twice. Other keys that kvstore would refuse to write (control characters, "."
// segments) are returned as they are, so that a reader can report them rather than lose them;
// in the plain layout, a key that starts with a control character lies outside the root.
//
// Lock bookkeeping lives under "\x00kvmirror/locks/" (slash) and "\x00kvmirror/plain-locks/"
// (plain): the lock "a" guards a different etcd key in each layout, so the two queue apart.
// kvstore keys cannot hold control characters, so no kvstore key, List or DeleteTree reaches it.
//
// # Indexes and TTLs
//
// LastIndex is the key's ModRevision: never 0, raised by every write, kept across restarts, and
// compared by AtomicPut and AtomicDelete in one transaction, which also tells a missing key
// (kvstore.ErrKeyNotFound) from a changed one (kvstore.ErrKeyModified).
//
// A write with a TTL attaches the key to a lease of its own, granted for the TTL rounded up to
// whole seconds and never renewed, so the key expires even while its writer stays connected. A
// later write without a TTL detaches the key and makes it permanent. etcd raises a lease's TTL to
// its minimum, 1.5 times the election timeout rounded up to seconds: 2 s with etcd's default
// settings. Shorter TTLs, of keys and locks alike, last that minimum.
//
// Reads are always linearizable; ReadOptions.Consistent asks for nothing more.
//
// # Watches
//
// Watch and WatchTree read the current state, then follow etcd's watch from the next revision,
// so no write falls between the two. Watch sends one pair per write and a nil pair for a
// deletion. WatchTree keeps its own copy of the tree, applies each batch of events to it and
// sends the new listing; listings the receiver was too slow to take are replaced by newer ones.
//
// etcd's client resumes a watch across reconnections by itself, from the last revision it
// delivered. If those revisions were compacted meanwhile, the watch reads the current state and
// continues from it, never going back in LastIndex; the writes that were compacted away are not
// reported one by one. If the connection stays down for the connection timeout, the channel
// closes, as a call would fail then.
//
// # Locks
//
// Each Lock call grants a lease for the lock's TTL, kept alive until Unlock, and queues a
// waiter key "\x00kvmirror/locks/<key>\x00<lease>" (slash layout) attached to it. Contenders get the lock in
// the order of their waiter keys' creation: each watches the deletion of the waiter key just
// ahead of its own (no polling, and one contender woken per release), and the oldest writes the
// lock key, with LockOptions.Value, under the same lease. Get of the lock key therefore tells
// who holds the lock, and the lease's end removes the lock key and the waiter key in one step.
//
// The lease is renewed every quarter of its TTL. The lost channel closes when the lock key
// changes or disappears (Delete, DeleteTree, a write by someone else), when the lease ends
// (revoked, or expired because renewal stopped with LockOptions.RenewLock or the server was
// unreachable), on Unlock and on Store.Close. A holder counts its lease's TTL from the moment it
// sent its last successful renewal, which the server's renewal cannot precede, so it takes the
// lock for lost no later than etcd expires the lease and lets another contender in. A Lock whose
// context ends revokes its lease, which takes its waiter key out of the queue at once.
package etcd
