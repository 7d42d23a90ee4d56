package consul

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kvmirror/kvmirror/kvstore"
)

// endpoint is one Consul agent's HTTP API address.
type endpoint struct {
	scheme string // "http" or "https"
	host   string // "host:port"
}

// parseEndpoints accepts "host:port", "http://host:port" and "https://host:port". A bare address
// speaks HTTPS when a TLS configuration is given and HTTP otherwise; an explicit "http://" with a
// TLS configuration is refused, since the configuration would silently go unused.
func parseEndpoints(raw []string, useTLS bool) ([]endpoint, error) {
	var eps []endpoint
	for _, r := range raw {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		ep := endpoint{scheme: "http", host: r}
		if useTLS {
			ep.scheme = "https"
		}
		if scheme, host, ok := strings.Cut(r, "://"); ok {
			switch scheme = strings.ToLower(scheme); {
			case scheme == "http" && useTLS:
				return nil, fmt.Errorf("%w: endpoint %q is plain HTTP but Config.TLS is set", kvstore.ErrInvalidOption, r)
			case scheme == "http" || scheme == "https":
				ep = endpoint{scheme: scheme, host: host}
			default:
				return nil, fmt.Errorf("%w: endpoint %q: scheme %q is neither http nor https", kvstore.ErrInvalidOption, r, scheme)
			}
		}
		ep.host = strings.TrimSuffix(ep.host, "/")
		if ep.host == "" || strings.ContainsAny(ep.host, "/?#@") {
			return nil, fmt.Errorf("%w: endpoint %q: want host:port", kvstore.ErrInvalidOption, r)
		}
		eps = append(eps, ep)
	}
	if len(eps) == 0 {
		return nil, fmt.Errorf("%w: no Consul endpoint given", kvstore.ErrInvalidOption)
	}
	return eps, nil
}

// newTransport builds the Store's own HTTP transport: nothing is shared with http.DefaultTransport
// or another Store. Each dial gets a share of the connection timeout so that New can still reach
// the last endpoint in time when the first ones swallow packets.
func newTransport(cfg *kvstore.Config, endpoints int) *http.Transport {
	timeout := cfg.Timeout()
	dialer := &net.Dialer{Timeout: timeout / time.Duration(endpoints), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: timeout,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	if cfg.TLS != nil {
		t.TLSClientConfig = cfg.TLS.Clone()
	}
	return t
}

// failover sends each request to the endpoint that answered last and, when it cannot be dialled,
// to the next ones in turn. Only dial errors fail over: the request never left, so repeating it
// elsewhere cannot apply a write twice. Any other error is returned to the caller, whose retry
// (or the next call) will fail over if the agent is really gone.
type failover struct {
	base      *http.Transport
	endpoints []endpoint
	current   atomic.Int64
}

func (f *failover) RoundTrip(req *http.Request) (*http.Response, error) {
	start := int(f.current.Load())
	var errs []error
	for i := range f.endpoints {
		n := (start + i) % len(f.endpoints)
		out, err := f.rewrite(req, n, i > 0)
		if err != nil {
			errs = append(errs, err)
			break
		}
		resp, err := f.base.RoundTrip(out)
		if err == nil {
			f.current.Store(int64(n))
			return resp, nil
		}
		errs = append(errs, err)
		if !isDialError(err) || req.Context().Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// rewrite points a copy of req at endpoint n. A retry needs a fresh body, which every request the
// Consul client builds can give (GetBody).
func (f *failover) rewrite(req *http.Request, n int, retry bool) (*http.Request, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme = f.endpoints[n].scheme
	out.URL.Host = f.endpoints[n].host
	out.Host = f.endpoints[n].host
	if retry && req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, fmt.Errorf("consul: cannot resend a request body to %s", f.endpoints[n].host)
		}
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		out.Body = body
	}
	return out, nil
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
