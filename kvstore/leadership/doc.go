// Package leadership elects one leader among candidates that share a lock key on any
// kvstore.Store that supports locks, and lets anyone follow who leads.
//
// A Candidate campaigns for the key and reports, on a channel, each time it is elected and each
// time it is deposed. A Follower reports the identity of the current leader, read from the lock's
// value, each time it changes. Neither needs Kubernetes: candidates in different clusters, or on
// no cluster at all, share one election as long as they share the store and the key.
//
// Deposition is reported before the lock can expire on the server: while it leads, a candidate
// checks that the lock key still holds its identity every TTL/4 and steps down when no check has
// succeeded for TTL/2 (a stalled connection, an unreachable store). The backend renews the lock at
// least every TTL/3 while its connection works, so the server cannot let another candidate in
// before TTL/2 + TTL/3 has passed without a successful exchange; stepping down at TTL/2 leaves a
// margin of TTL/6 for the caller to stop acting.
package leadership
