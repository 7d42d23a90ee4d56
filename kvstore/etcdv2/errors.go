package etcdv2

import (
	"context"
	"errors"
	"fmt"
	"strings"

	client "go.etcd.io/etcd/client/v2"

	"github.com/kvmirror/kvmirror/kvstore"
)

// ErrForeignNode is returned when a node that kvmirror's layout cannot use sits where a write
// needs a directory. The usual case is a plain v2 file above the key: see PlainFileError, which
// wraps it. The other is a directory where a key's value file belongs (a directory named "=",
// which only another v2 client makes). The Store never deletes such a node to make room.
var ErrForeignNode = errors.New("etcdv2: a node written outside kvstore is in the way")

// PlainFileError is the error of a write below a key that is a plain v2 file: while "app/db"
// is a file (after etcdctl set /app/db x, say), "app/db/host" cannot be written, because a v2
// node is a file or a directory, never both, and turning the file into a directory cannot be
// done atomically, nor without breaking the other clients that read it. Delete "app/db" first
// (a Put then writes it in kvmirror's layout, as a directory), or keep the two trees apart.
// errors.Is(err, ErrForeignNode) holds for it.
type PlainFileError struct {
	// Path is the v2 path of the file in the way, as etcd reports it.
	Path string
	// Key is the key that the file holds, "" when its path maps to no key (see the package
	// documentation).
	Key string
}

func (e *PlainFileError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("etcdv2: key %q is a plain v2 file, and a v2 file cannot have keys below it", e.Key)
	}
	return fmt.Sprintf("etcdv2: the plain v2 file %s is in the way, and a v2 file cannot have nodes below it", e.Path)
}

// Unwrap makes a PlainFileError an ErrForeignNode, the error that callers already test for.
func (e *PlainFileError) Unwrap() error { return ErrForeignNode }

// newPlainFileError returns the PlainFileError of a NotDir answer, whose cause is the file's
// path.
func newPlainFileError(e client.Error) *PlainFileError {
	key, _ := keyOfFile(e.Cause)
	return &PlainFileError{Path: e.Cause, Key: key}
}

// errHistoryCleared is what a watch gets when etcd no longer has the events it asked for: the
// v2 API keeps only the last 1000 events, and none across a restart.
var errHistoryCleared = errors.New("etcdv2: event history cleared")

// wrapErr is the one place where errors of the v2 client become kvstore errors. ctx is the
// caller's context: once it has ended, its error is what the caller must see, whatever the
// client made of it. op and key only make the message useful.
func (s *Store) wrapErr(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	prefix := fmt.Sprintf("etcdv2 %s %q", op, key)
	if s.life.Ended() {
		return fmt.Errorf("%s: %w", prefix, kvstore.ErrClosed)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", prefix, ctxErr)
	}
	kind, detail := classify(err)
	switch {
	case kind == nil:
		return fmt.Errorf("%s: %w", prefix, err)
	case errors.Is(kind, kvstore.ErrKeyNotFound) || errors.Is(kind, kvstore.ErrKeyModified) || errors.Is(kind, kvstore.ErrKeyExists),
		isPlainFile(kind):
		// etcd's message would only repeat the kind, with a node path of the layout.
		return fmt.Errorf("%s: %w", prefix, kind)
	case errors.Is(err, context.DeadlineExceeded):
		// The Store's own per-call timeout fired, not the caller's deadline: wrapping the
		// context error would make the caller believe its own context ended.
		return fmt.Errorf("%s: %w: no answer within %s", prefix, kind, s.timeout)
	case detail != nil:
		return fmt.Errorf("%s: %w: %w", prefix, kind, detail)
	default:
		return fmt.Errorf("%s: %w: %w", prefix, kind, err)
	}
}

// classify returns the kvstore sentinel for an error of the v2 client (nil when none fits), and
// the underlying error worth keeping in the chain, such as a TLS verification failure.
func classify(err error) (kind, detail error) {
	var etcdErr client.Error
	if errors.As(err, &etcdErr) {
		return classifyCode(etcdErr), nil
	}
	var clusterErr *client.ClusterError
	switch {
	case errors.As(err, &clusterErr):
		// Every endpoint failed; the first failure says why (refused, TLS, header timeout).
		if len(clusterErr.Errors) > 0 {
			return kvstore.ErrUnreachable, clusterErr.Errors[0]
		}
		return kvstore.ErrUnreachable, nil
	case errors.Is(err, client.ErrInvalidJSON):
		return kvstore.ErrUnreachable, errors.New("the endpoint answered, but not as the etcd v2 keys API " +
			"(etcd 3.4 serves it only with --enable-v2; etcd 3.5 and later have no v2 API)")
	case errors.Is(err, context.DeadlineExceeded):
		return kvstore.ErrUnreachable, nil
	}
	return nil, nil
}

// classifyCode maps the error codes of the v2 API (etcd's error/error.go).
func classifyCode(e client.Error) error {
	switch e.Code {
	case client.ErrorCodeKeyNotFound:
		return kvstore.ErrKeyNotFound
	case client.ErrorCodeTestFailed:
		return kvstore.ErrKeyModified
	case client.ErrorCodeNodeExist:
		return kvstore.ErrKeyExists
	case client.ErrorCodeNotDir:
		// The only node that is not a directory is a file, and etcd names it as the cause.
		return newPlainFileError(e)
	case client.ErrorCodeNotFile:
		return ErrForeignNode
	case client.ErrorCodeUnauthorized:
		return kvstore.ErrPermissionDenied
	case client.ErrorCodeRaftInternal, client.ErrorCodeLeaderElect:
		return kvstore.ErrUnreachable
	case client.ErrorCodeWatcherCleared, client.ErrorCodeEventIndexCleared:
		return errHistoryCleared
	case 0:
		// Authentication failures are plain HTTP errors without a v2 code:
		// 401 {"message":"Insufficient credentials"}.
		if strings.Contains(strings.ToLower(e.Message), "credentials") {
			return kvstore.ErrPermissionDenied
		}
	}
	return nil
}

func isPlainFile(err error) bool {
	var plain *PlainFileError
	return errors.As(err, &plain)
}

// isCode reports whether err is a v2 API error with the given code.
func isCode(err error, code int) bool {
	var etcdErr client.Error
	return errors.As(err, &etcdErr) && etcdErr.Code == code
}

// errIndex returns the etcd index an error response carries (etcd's index when it answered).
func errIndex(err error) (uint64, bool) {
	var etcdErr client.Error
	if errors.As(err, &etcdErr) {
		return etcdErr.Index, true
	}
	return 0, false
}
