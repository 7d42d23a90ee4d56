// Package lifecycle is the lifetime of a Store, shared by every backend so that Close means the
// same everywhere: calls after Close fail with kvstore.ErrClosed, Close cancels every call,
// watch and lock through contexts bound to the Store's Life, releases what the Store holds
// (locks, sessions), waits for the calls and goroutines it started, and runs once, however many
// callers call it.
//
// The names mean one thing in every backend: Enter starts a call (tracked and bound), Go starts
// a goroutine that Close waits for, Hold registers something for Close to release, and Close
// ends it all once.
package lifecycle
