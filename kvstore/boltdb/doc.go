// Package boltdb is the local kvstore backend: a Store on one bucket of a BoltDB file
// (go.etcd.io/bbolt), with the same behaviour as the network backends.
//
//	store, err := boltdb.New(ctx, []string{"/var/lib/app/kv.db"}, &kvstore.Config{Bucket: "app"})
//
// or, with the package imported, kvstore.OpenURL(ctx, "boltdb:///var/lib/app/kv.db?bucket=app", nil).
//
// Every value is stored with its index, taken from a counter kept in the file, so indexes grow
// across restarts and never start again at 0. A TTL is stored as a deadline in the file: an
// expired key is invisible at once, removed by a sweeper goroutine (which tells watches), and
// still expires if the process restarts meanwhile.
//
// All Stores of one process on one file share its handle, a notifier and the lock table, so
// Watch, WatchTree and locks work between them, whether or not the file is kept open
// (Config.PersistConnection). With PersistConnection false, the default, the file is opened for
// each call, so other processes can use it in turn; a process that keeps it open makes calls fail
// with kvstore.ErrUnreachable after Config.ConnectionTimeout. Locks and TTLs hold between
// processes too (they live in the file); watches see other processes' writes within about a
// second, as the key's state at that time rather than write by write.
package boltdb
