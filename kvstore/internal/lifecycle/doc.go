// Package lifecycle is the lifetime of a Store whose Close ends everything the Store started:
// a Life ends at Close, the contexts of calls, watches and locks are bound to it so that Close
// reaches them all, and it counts the workers that Close then waits for. The etcd and etcd v2
// backends share it; the others track locks or sessions of their own in Close and keep their
// own bookkeeping.
package lifecycle
