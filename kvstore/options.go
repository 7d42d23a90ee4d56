package kvstore

import (
	"fmt"
	"time"
)

// CheckWrite validates write options and returns the TTL to apply (0 for none). Backends call it
// before touching the server.
func CheckWrite(opts *WriteOptions) (time.Duration, error) {
	if opts == nil {
		return 0, nil
	}
	if opts.TTL < 0 {
		return 0, fmt.Errorf("%w: negative TTL %s", ErrInvalidOption, opts.TTL)
	}
	return opts.TTL, nil
}

// CheckLock validates lock options and returns them with defaults applied: a TTL of
// DefaultLockTTL when none was given, and a non-nil Value.
func CheckLock(opts *LockOptions) (LockOptions, error) {
	var o LockOptions
	if opts != nil {
		o = *opts
	}
	if o.TTL < 0 {
		return o, fmt.Errorf("%w: negative lock TTL %s", ErrInvalidOption, o.TTL)
	}
	if o.TTL == 0 {
		o.TTL = DefaultLockTTL
	}
	if o.Value == nil {
		o.Value = []byte{}
	}
	return o, nil
}

// IsConsistent reports whether opts ask for a consistent read.
func IsConsistent(opts *ReadOptions) bool {
	return opts != nil && opts.Consistent
}
