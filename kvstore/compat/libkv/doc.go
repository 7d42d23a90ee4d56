// Package libkv adapts a kvstore.Store to the store.Store interface of github.com/docker/libkv
// (v0.2.1), so that a program written against libkv runs on kvstore's backends without being
// rewritten, and can move to kvstore one call at a time.
//
//	kv, err := kvstore.Open(ctx, "etcdv2", []string{"10.0.0.1:2379"}, nil)
//	if err != nil {
//		return err
//	}
//	var st store.Store = libkv.New(kv) // github.com/docker/libkv/store
//	defer st.Close()
//	pair, err := st.Get("app/config")
//	if errors.Is(err, store.ErrKeyNotFound) {
//		...
//	}
//
// libkv's calls take no context: they run under context.Background(), bounded by the Store's
// Config.ConnectionTimeout as every kvstore call is. A stopCh given to Watch, WatchTree or
// Locker.Lock ends the call when it receives or is closed, as in libkv; Close ends every watch.
//
// kvstore's errors that libkv has a sentinel for are returned as that very sentinel
// (kvstore.ErrKeyNotFound as store.ErrKeyNotFound, kvstore.ErrUnreachable as
// store.ErrNotReachable, ...), so that libkv code comparing errors with == keeps working; the
// others, kvstore.ErrClosed and kvstore.ErrInvalidKey among them, are returned as kvstore made
// them. Keys, TTLs, watches and locks behave as kvstore documents (see docs/migrating.md in the
// kvmirror repository): keys come back in canonical form, without a leading slash.
package libkv
