// Package valkeyrie adapts a kvstore.Store to the store.Store interface of
// github.com/kvtools/valkeyrie (v1.0.0), so that a program written against valkeyrie runs on
// kvstore's backends with its calls unchanged.
//
//	kv, err := kvstore.Open(ctx, "consul", []string{"10.0.0.1:8500"}, nil)
//	if err != nil {
//		return err
//	}
//	var st store.Store = valkeyrie.New(kv) // github.com/kvtools/valkeyrie/store
//	defer st.Close()
//	pair, err := st.Get(ctx, "app/config", nil)
//	if errors.Is(err, store.ErrKeyNotFound) {
//		...
//	}
//
// valkeyrie's interface has kvstore's shape, so the adapter converts types and errors only.
// kvstore's errors that valkeyrie has a sentinel for are returned as that very sentinel
// (kvstore.ErrKeyModified as store.ErrKeyModified, kvstore.ErrUnreachable as
// store.ErrNotReachable, ...), as valkeyrie's own stores return them; the others,
// kvstore.ErrClosed and context errors among them, are returned as kvstore made them.
//
// Two options have no counterpart in kvstore. WriteOptions.KeepAlive is refused with
// store.ErrCallNotSupported: a kvstore key with a TTL expires about TTL after its last write,
// whether its writer stays connected or not. LockOptions.DeleteOnUnlock is ignored: what a lock's
// key holds once the lock ends is not part of kvstore's contract. The rest behaves as kvstore
// documents (see docs/migrating.md in the kvmirror repository).
package valkeyrie
