// Package zookeeper is the kvstore backend for Apache ZooKeeper 3.5 and later (tested with 3.8),
// built on github.com/go-zookeeper/zk. Open a Store with New, or by name ("zookeeper", "zk") or
// URL ("zk://10.0.0.1:2181,10.0.0.2:2181") through kvstore once this package is imported. It
// behaves as kvstore.Store documents; this page says how, and where ZooKeeper sets limits.
//
// # Connection
//
// Config.TLS connects to the server's secureClientPort. Config.Username and Config.Password add
// digest credentials before any other request, and every node the Store creates then carries an
// ACL for that identity alone, so other identities are refused (ErrPermissionDenied). ZooKeeper
// accepts any digest credentials; a wrong password shows when a node is refused.
// Config.ConnectionTimeout bounds the opening and each call, and is the timeout of the Store's
// ZooKeeper session. go-zookeeper's log goes nowhere but into the errors it explains.
//
// # Keys and znodes
//
// Key "a/b" is znode "/a/b", or "/app/a/b" with the chroot "/app" given after an endpoint
// ("10.0.0.1:2181/app"). A key is a znode with data: an empty value is stored as empty data.
// The parents a write creates have null data, like zkCli's `create /path`; they are directories,
// not keys, and a Delete that leaves them empty removes them (parents emptied by a TTL expiry
// stay, unseen). Deleting a key that has keys below it only nulls its data. Nodes written by
// other clients read as keys when they hold data.
//
// ZooKeeper refuses some characters in names that kvstore keys may hold (code points U+E000 to
// U+F8FF, U+FFF0 to U+FFFF and above U+FFFF, emoji included); they are stored escaped as
// "%{HEX}". At the server's root, the key "zookeeper" is stored as "%{7A}ookeeper", apart from
// ZooKeeper's own /zookeeper node. A '%' is escaped only before text that reads as an escape. A
// name the encoding never produces is no key: List, WatchTree and DeleteTree leave such nodes
// alone, the lock bookkeeping node "%{25}kvmirror-locks" among them.
//
// LastIndex is the node's mzxid, the transaction id of its last write: never 0, growing with
// every write, kept across restarts. AtomicPut and AtomicDelete compare it, then write at the
// node's data version, which the server checks atomically. ZooKeeper conditions writes on that
// version only: a key deleted and re-created by another client in the instant between the check
// and the write, and written as often since, is not told apart. List is built node by node, not
// read at one instant. Values are limited to 1000 KiB, below the server's default jute.maxbuffer.
//
// # TTL
//
// A key written with a TTL is a ZooKeeper TTL node, which needs the server property
// zookeeper.extendedTypesEnabled=true (without it, TTL writes fail with ErrCallNotSupported and
// say so). A key expires once it has gone TTL without a write, measured from its last write on
// the server's clock (the node's mtime): the Store treats such a node as absent for Get, Exists,
// List, Watch and WatchTree and deletes it at the version it read, so a concurrent rewrite is
// never lost. Watch and WatchTree arm a timer for the nearest expiry of what they report, so an
// expiry is sent within about a second of the TTL without any other read. The server deletes
// expired TTL nodes too, but only when it sweeps, every znode.container.checkIntervalMs (60 s by
// default): that sweep is the backstop for keys no Store reads. Clock skew between client and
// server shifts the deadline by as much. A TTL node is not deleted while it has children: a key
// with a TTL outlives its TTL as long as keys exist below it.
//
// ZooKeeper cannot change whether a node has a TTL, and does not tell clients which nodes have
// one, so the Store records the TTL of the nodes it creates in their ACL list, as an entry that
// grants nothing (digest "kvmirror-ttl:<milliseconds>"). A write with the same TTL is a data
// update, which extends the key; a write with another TTL, or without one, re-creates the node
// (in one transaction when the new node is permanent; a watcher may see the key vanish for an
// instant when it gets a TTL). A key that has keys below it cannot be re-created, so such a
// write fails with ErrCallNotSupported. TTL nodes made by other clients count as permanent.
//
// # Watches
//
// ZooKeeper watches fire once and carry no data, so each event is followed by a read, which
// arms the next watch. Watch sends every version it reads, in LastIndex order, and the current
// value after writes stop; but writes that land between an event and the next read are reported
// as one (ZooKeeper keeps no history), so one event per write is not guaranteed under fast
// writes. A deletion, a TTL expiry included, is a nil pair. WatchTree watches the data and the
// children of every node below the directory, so a change at any depth is seen, and sends a full
// listing after each batch of changes. go-zookeeper v1.0.4 has no persistent recursive watches
// (ZooKeeper 3.6's addWatch), which would save the per-node watches.
//
// A lost connection is retried inside; if the session expired meanwhile, the new session arms
// every watch again and the watch reports what changed. A watch closes only when its ctx ends,
// on Close, or when the server refuses access.
//
// # Locks
//
// Each Lock call opens a ZooKeeper session of its own, whose timeout is the lock's TTL, and
// queues an ephemeral sequential node below "%{25}kvmirror-locks" (a container the server
// removes once empty). The lowest node holds the lock; each waiter watches only the node before
// it, so a release wakes one waiter, at once. The holder then writes LockOptions.Value at the key
// as an ephemeral node of its session, which is why no key can be written below a held lock's
// key, and a key that has keys below it cannot be locked (ErrCallNotSupported).
//
// The lock is lost, and its channel closed before anyone else can take it, when its queue node
// or key is deleted or replaced by any client, when Unlock is called, when the Store closes, and
// as soon as the session's connection is lost: go-zookeeper notices a silent server after two
// thirds of the session timeout, and the server may give the lock away a third later, so waiting
// for a reconnection could make two holders. After its channel closed, the holder ends its
// session, which deletes its nodes at once when the server is reachable. A holder that dies
// leaves its session to expire: a waiter takes over about TTL later. Closing
// LockOptions.RenewLock keeps the lock for TTL more, then releases it, as a dead holder would.
//
// The server bounds session timeouts to 2 to 20 ticks (tickTime, 2 s by default, so 4 s to 40
// s): a lock TTL outside those bounds is moved into them, and a dead holder's lock is freed up to
// a tick after its session timeout. Give the server a tickTime of at most half the shortest lock
// TTL in use.
package zookeeper
