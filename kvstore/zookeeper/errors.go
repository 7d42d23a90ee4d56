package zookeeper

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"

	"github.com/kvmirror/kvmirror/kvstore"
)

// go-zookeeper v1.0.4's table of error codes lacks two that matter here, which it reports as
// "unknown error: <code>": UNIMPLEMENTED, the answer to a TTL node when the server's extended
// types are off, and SESSIONCLOSEDREQUIRESASLAUTH, the answer to a client without credentials
// when the server enforces authentication.
const (
	errUnimplemented = "unknown error: -6"
	errAuthRequired  = "unknown error: -124"
)

// Hints for an operator, added to the errors above.
const (
	extendedTypesHint = "the server refuses TTL nodes: start it with -Dzookeeper.extendedTypesEnabled=true"
	authRequiredHint  = "the server requires authentication: set Config.Username and Config.Password (digest scheme)"
)

// errNotEmpty and errEphemeralParent are raised by the Store itself where ZooKeeper's node model
// cannot follow the contract; they wrap ErrCallNotSupported.
var (
	errNotEmpty = fmt.Errorf("%w: ZooKeeper cannot change whether a node has a TTL, or belongs to a lock, while keys exist below it",
		kvstore.ErrCallNotSupported)
	errEphemeralParent = fmt.Errorf("%w: ZooKeeper keeps no keys below a held lock's key", kvstore.ErrCallNotSupported)
)

// wrapErr is the one place where go-zookeeper's errors become kvstore's. ctx is the caller's
// context: when it has ended, its error is what the caller sees, whatever the client made of it.
// op and key only make the message useful.
func (s *Store) wrapErr(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	prefix := fmt.Sprintf("zookeeper %s %q", op, key)
	switch {
	case s.life.Ended():
		return fmt.Errorf("%s: %w", prefix, kvstore.ErrClosed)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", prefix, ctx.Err())
	}
	kind := classify(err)
	switch {
	case kind == nil, errors.Is(err, kind):
		return fmt.Errorf("%s: %w", prefix, err)
	case err.Error() == errUnimplemented:
		return fmt.Errorf("%s: %w: %s", prefix, kind, extendedTypesHint)
	case err.Error() == errAuthRequired:
		return fmt.Errorf("%s: %w: %s", prefix, kind, authRequiredHint)
	default:
		return fmt.Errorf("%s: %w: %w", prefix, kind, err)
	}
}

// classify returns the kvstore sentinel for a native error, or nil when none fits.
func classify(err error) error {
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return kvstore.ErrKeyNotFound
	case errors.Is(err, zk.ErrNodeExists):
		return kvstore.ErrKeyExists
	case errors.Is(err, zk.ErrBadVersion):
		return kvstore.ErrKeyModified
	case errors.Is(err, zk.ErrNoAuth), errors.Is(err, zk.ErrAuthFailed), errors.Is(err, zk.ErrInvalidACL):
		return kvstore.ErrPermissionDenied
	case errors.Is(err, zk.ErrConnectionClosed), errors.Is(err, zk.ErrNoServer), errors.Is(err, zk.ErrClosing),
		errors.Is(err, zk.ErrSessionExpired), errors.Is(err, zk.ErrSessionMoved):
		return kvstore.ErrUnreachable
	case errors.Is(err, zk.ErrInvalidPath):
		return kvstore.ErrInvalidKey
	case errors.Is(err, zk.ErrBadArguments):
		return kvstore.ErrInvalidOption
	case errors.Is(err, zk.ErrNoChildrenForEphemerals):
		return errEphemeralParent
	case errors.Is(err, zk.ErrNotEmpty):
		return errNotEmpty
	case err.Error() == errUnimplemented:
		return kvstore.ErrCallNotSupported
	case err.Error() == errAuthRequired:
		return kvstore.ErrPermissionDenied
	}
	for _, sentinel := range []error{kvstore.ErrClosed, kvstore.ErrUnreachable, kvstore.ErrCallNotSupported,
		kvstore.ErrKeyModified, kvstore.ErrPermissionDenied} {
		if errors.Is(err, sentinel) {
			return sentinel
		}
	}
	return nil
}

// transient reports whether err is worth retrying after the connection comes back.
func transient(err error) bool {
	return errors.Is(classify(err), kvstore.ErrUnreachable)
}
