// Package consul is the kvstore backend on Consul's KV store (HTTP API, tested against Consul
// 1.13). Importing it registers the backend as "consul" for kvstore.Open and kvstore.OpenURL:
//
//	store, err := consul.New(ctx, []string{"10.0.0.1:8500", "10.0.0.2:8500"}, &kvstore.Config{Token: token})
//
// Every Store has its own HTTP client and transport. Requests go to one agent and move to the
// next endpoint when it cannot be dialled. Config.TLS switches to HTTPS; Config.Token is the ACL
// token (HTTP 403 from Consul is kvstore.ErrPermissionDenied). A listing from which Consul left
// out keys the token may not read is ErrPermissionDenied too, never a partial answer (Consul
// flags such listings only for requests with a token). A token that may read below a directory
// but not the directory key itself (a policy on "dir/") gets ErrKeyNotFound from List when
// nothing is below: whether the directory key exists is hidden from it.
//
// How the contract maps onto Consul:
//
//   - LastIndex is Consul's ModifyIndex. Every write, Delete and DeleteTree runs as one Consul
//     transaction, so conditions are checked atomically and errors are exact (a missing key is
//     ErrKeyNotFound, a changed one ErrKeyModified). Transaction bodies are limited to 512 KiB
//     and carry values base64-encoded, so a value may be at most about 380 KiB.
//   - kvmirror owns the Flags of the entries it writes: they mark TTL and lock keys, and their
//     lowest bit changes with every write, because Consul ignores a write that changes nothing
//     and a same-value write must still be a write (new LastIndex, watch event).
//   - Consul's HTTP server refuses URLs holding characters that are not printable
//     (unicode.IsPrint), which kvstore keys may hold: such keys are written in transaction
//     bodies and read through a listing of their longest printable prefix.
//   - A TTL is a Consul session that is never renewed and deletes the key when it ends. Consul
//     ends a session twice its TTL after its creation (or last renewal), and refuses TTLs under
//     session_ttl_min (10s by default) or over 24h; kvmirror asks for TTL/2, raised to the
//     minimum, which it learns from the first refusal. A key therefore disappears
//     max(TTL, 2×session_ttl_min) after the write: exactly TTL from 20s up with Consul's
//     defaults, from 2s up with session_ttl_min = "1s". TTLs over 48h are ErrInvalidOption. A
//     write without TTL releases the session and the key becomes permanent.
//   - A lock is a session (TTL LockOptions.TTL/2 raised to the minimum, so the same bound as
//     keys; lock-delay 1ms instead of Consul's 15s) renewed every TTL/4 and holding the key, with
//     LockOptions.Value as its value. Waiters wait with blocking queries on the key and acquire as
//     soon as it is released. The lost channel closes when the key is deleted or taken by another
//     session, when no renewal got through for the TTL less a tenth (at most 1s; just before
//     Consul could let another session in), on Unlock and on Close. Unlock and Close destroy the
//     session, which deletes the key. Lock TTLs over 48h act as 48h once renewal stops.
//   - Watch and WatchTree use blocking queries. Consul keeps no history: writes that land between
//     two queries, or while an event waits for a slow receiver, arrive as one event with the
//     latest value. A deletion is always reported (a nil pair), also when the key was created
//     again meanwhile. Agents that stay unreachable for max(30s, 3×ConnectionTimeout) close the
//     channel.
package consul
