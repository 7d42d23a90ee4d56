// Package leadergate runs the operator's controllers only while this replica holds a leadership
// lock on a key/value store, instead of a Kubernetes Lease.
//
// A Gate campaigns with kvstore/leadership. Guard wraps the controllers in a manager.Runnable
// that starts them once elected and stops them when leadership ends; caches, metrics and probes
// keep running on every replica. Losing the lock ends the Runnable with ErrDeposed, so that the
// process exits and restarts clean; stopping the manager stops the controllers first and then
// releases the lock at once, so that another replica takes over within a second. The
// kvmirror_leader gauge says whether this replica leads.
//
// Options holds the --leader-elect-* flags; BindFlags registers them.
package leadergate
