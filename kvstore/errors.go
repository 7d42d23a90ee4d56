package kvstore

import "errors"

// Errors returned by every Store. Backends wrap them with detail; test with errors.Is.
var (
	// ErrKeyNotFound: the key (or, for List, anything at or below the directory) does not exist.
	ErrKeyNotFound = errors.New("kvstore: key not found")
	// ErrKeyExists: AtomicPut with a nil previous pair found the key already there.
	ErrKeyExists = errors.New("kvstore: key exists")
	// ErrKeyModified: the previous pair given to AtomicPut or AtomicDelete is stale.
	ErrKeyModified = errors.New("kvstore: key modified since previous read")
	// ErrPreviousNotSpecified: AtomicDelete was called with a nil previous pair.
	ErrPreviousNotSpecified = errors.New("kvstore: previous pair not specified")
	// ErrCallNotSupported: the backend cannot perform this call or option at all.
	ErrCallNotSupported = errors.New("kvstore: call not supported by this backend")
	// ErrInvalidKey: the key is empty after normalisation, holds a forbidden character or segment,
	// or is longer than the backend allows.
	ErrInvalidKey = errors.New("kvstore: invalid key")
	// ErrInvalidOption: an option is out of range (a negative TTL, for instance).
	ErrInvalidOption = errors.New("kvstore: invalid option")
	// ErrValueTooLarge: the value is larger than the backend accepts.
	ErrValueTooLarge = errors.New("kvstore: value too large")
	// ErrClosed: the Store was closed; every call after Close returns it.
	ErrClosed = errors.New("kvstore: store closed")
	// ErrNotLocked: Unlock was called on a Locker that does not hold its lock.
	ErrNotLocked = errors.New("kvstore: lock not held")
	// ErrUnreachable: the backend could not be reached within Config.ConnectionTimeout.
	ErrUnreachable = errors.New("kvstore: backend unreachable")
	// ErrPermissionDenied: the backend rejected the credentials or refused the operation.
	ErrPermissionDenied = errors.New("kvstore: permission denied")
	// ErrUnknownBackend: Open or OpenURL was given a backend name that no imported package registered.
	ErrUnknownBackend = errors.New("kvstore: unknown backend")
)
