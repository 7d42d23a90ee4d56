package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvmirror/kvmirror/kvstore"
)

// wrapErr is the one place where errors of the etcd client become kvstore errors. ctx is the
// caller's context: when it has ended, its error is what the caller must see, whatever the client
// made of it. op and key only make the message useful.
func (s *Store) wrapErr(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	prefix := fmt.Sprintf("etcd %s %q", op, key)
	if s.life.Ended() {
		return fmt.Errorf("%s: %w", prefix, kvstore.ErrClosed)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%s: %w", prefix, ctxErr)
	}
	kind := classify(err)
	switch {
	case kind == nil:
		return fmt.Errorf("%s: %w", prefix, err)
	case errors.Is(err, context.DeadlineExceeded):
		// Our own per-call timeout fired, not the caller's deadline: wrapping the context error
		// would make the caller believe its own context ended.
		return fmt.Errorf("%s: %w: no answer within %s: %v", prefix, kind, s.timeout, err) //nolint:errorlint // see above
	default:
		return fmt.Errorf("%s: %w: %w", prefix, kind, err)
	}
}

// classify returns the kvstore sentinel for a native error, or nil when none fits.
func classify(err error) error {
	err = rpctypes.Error(err)
	switch {
	case errors.Is(err, rpctypes.ErrAuthFailed), errors.Is(err, rpctypes.ErrUserEmpty),
		errors.Is(err, rpctypes.ErrAuthOldRevision), errors.Is(err, rpctypes.ErrUserNotFound),
		errors.Is(err, rpctypes.ErrRoleNotGranted), errors.Is(err, rpctypes.ErrPermissionNotGranted):
		return kvstore.ErrPermissionDenied
	case errors.Is(err, rpctypes.ErrRequestTooLarge):
		return kvstore.ErrValueTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		return kvstore.ErrUnreachable
	}
	switch code, msg := errorCode(err); code {
	case codes.PermissionDenied, codes.Unauthenticated:
		return kvstore.ErrPermissionDenied
	case codes.Unavailable, codes.DeadlineExceeded:
		return kvstore.ErrUnreachable
	case codes.ResourceExhausted:
		// The client refuses to send a request over its own size limit; the server's
		// "too many requests" and "database space exceeded" share the code but not the cause.
		if strings.Contains(msg, "larger than max") {
			return kvstore.ErrValueTooLarge
		}
	}
	return nil
}

// errorCode extracts the gRPC code of err, whether the client converted it to an EtcdError or
// left it a gRPC status.
func errorCode(err error) (codes.Code, string) {
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		return etcdErr.Code(), etcdErr.Error()
	}
	if st, ok := status.FromError(err); ok {
		return st.Code(), st.Message()
	}
	return codes.Unknown, err.Error()
}

// The etcd client turns a gRPC deadline error into the bare context error, which drops what
// gRPC knew of the connection ("connection refused", "x509: certificate signed by unknown
// authority"). An interceptor below the client keeps it for the call that asked (see call).
type connDetailKey struct{}

type connDetail struct {
	mu  sync.Mutex
	err error
}

func withConnDetail(ctx context.Context) (context.Context, *connDetail) {
	d := &connDetail{}
	return context.WithValue(ctx, connDetailKey{}, d), d
}

// recordConnDetail is a gRPC unary interceptor that remembers, for the call whose context asks,
// the last error that says more than the deadline itself.
func recordConnDetail(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	err := invoker(ctx, method, req, reply, cc, opts...)
	if d, ok := ctx.Value(connDetailKey{}).(*connDetail); ok && err != nil {
		if st, ok := status.FromError(err); ok && st.Message() != context.DeadlineExceeded.Error() {
			d.mu.Lock()
			d.err = err
			d.mu.Unlock()
		}
	}
	return err
}

// explain adds the remembered connection error to a timeout.
func (d *connDetail) explain(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err == nil || !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w (%s)", err, status.Convert(d.err).Message())
}
