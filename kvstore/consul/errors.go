package consul

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/kvmirror/kvmirror/kvstore"
)

// errNoAnswer is the cause of a context that one attempt's timeout ended (see Store.attempt), as
// opposed to the caller's context.
var errNoAnswer = errors.New("consul: no answer within the connection timeout")

// oldStyleStatus matches the status errors the Consul client formats as text instead of
// api.StatusError (session renewal, for instance).
var oldStyleStatus = regexp.MustCompile(`Unexpected response code: (\d{3})`)

// mapError is the one place where what the Consul client returns becomes a kvstore error. ctx is
// the context the failed request ran under: its end is reported as the caller's ctx.Err() (or
// ErrClosed when Close ended it), unless only one attempt's timeout ran out, which means the
// agent did not answer.
func mapError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, errNoAnswer):
			return fmt.Errorf("%w: %w (last error: %w)", kvstore.ErrUnreachable, cause, err)
		case errors.Is(cause, kvstore.ErrClosed):
			return kvstore.ErrClosed
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return ctx.Err()
		default:
			return fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	}
	if code, body, ok := statusOf(err); ok {
		return mapStatus(code, body)
	}
	switch {
	case isPlainHTTP(err):
		return fmt.Errorf("%w: the agent does not speak TLS (Config.TLS is set): %w", kvstore.ErrUnreachable, err)
	case isCertError(err):
		return fmt.Errorf("%w: TLS handshake with the agent failed: %w", kvstore.ErrUnreachable, err)
	case isNetError(err):
		return fmt.Errorf("%w: %w", kvstore.ErrUnreachable, err)
	}
	return fmt.Errorf("consul: %w", err)
}

// mapStatus maps an HTTP status from the Consul agent.
func mapStatus(code int, body string) error {
	switch {
	case code == http.StatusForbidden, code == http.StatusUnauthorized:
		return fmt.Errorf("%w: consul: %s (check Config.Token and its ACL policy)", kvstore.ErrPermissionDenied, body)
	case code == http.StatusRequestEntityTooLarge:
		return fmt.Errorf("%w: consul: %s", kvstore.ErrValueTooLarge, body)
	case code == http.StatusBadRequest && speaksOnlyTLS(body):
		return fmt.Errorf("%w: the agent speaks only TLS, set Config.TLS: consul: %s", kvstore.ErrUnreachable, body)
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: consul: %s", kvstore.ErrKeyNotFound, body)
	case code == http.StatusTooManyRequests, code >= 500 && isLeaderless(body):
		return fmt.Errorf("%w: consul: %d %s", kvstore.ErrUnreachable, code, body)
	}
	return fmt.Errorf("consul: unexpected response %d: %s", code, body)
}

func statusOf(err error) (code int, body string, ok bool) {
	if err == nil {
		return 0, "", false
	}
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Code, se.Body, true
	}
	if m := oldStyleStatus.FindStringSubmatch(err.Error()); m != nil {
		code, _ := strconv.Atoi(m[1])
		return code, err.Error(), true
	}
	return 0, "", false
}

func isLeaderless(body string) bool {
	for _, text := range []string{"No cluster leader", "leadership lost", "Not ready to serve consistent reads"} {
		if strings.Contains(body, text) {
			return true
		}
	}
	return false
}

// retryable reports whether a failed request, its error mapped by mapError, may succeed if simply
// tried again: the agent was unreachable, restarting or between leaders. A refused certificate
// or token, or a bad request, will not heal by itself.
func retryable(err error) bool {
	return errors.Is(err, kvstore.ErrUnreachable) && !isCertError(err) && !isPlainHTTP(err) && !speaksOnlyTLS(err.Error())
}

// speaksOnlyTLS recognises Go's answer to plain HTTP on a TLS port.
func speaksOnlyTLS(text string) bool {
	return strings.Contains(text, "HTTP request to an HTTPS server")
}

func isCertError(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &certInvalid) ||
		errors.As(err, &verify) || strings.Contains(err.Error(), "tls: ")
}

func isPlainHTTP(err error) bool {
	var recordHeader tls.RecordHeaderError
	return errors.As(err, &recordHeader) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

func isNetError(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &netErr) || errors.As(err, &opErr) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset")
}

// isStatus reports whether err is the Consul agent's answer with HTTP status code.
func isStatus(err error, code int) bool {
	c, _, ok := statusOf(err)
	return ok && c == code
}
