package testserver

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on a free loopback port that forwards every connection to a target. A
// fault test points its client at Addr and then stalls, cuts or breaks the connections
// underneath it. It stops, closing every connection, when the test ends.
type Proxy struct {
	target string
	l      net.Listener
	wg     sync.WaitGroup

	mu     sync.Mutex
	open   chan struct{} // closed while bytes flow; a new, open channel while stalled
	conns  map[*proxyConn]struct{}
	broken bool // new connections are closed at once, between Break and Restore
	closed bool
}

type proxyConn struct {
	client net.Conn
	done   chan struct{} // closed by close

	mu     sync.Mutex
	server net.Conn
	closed bool
}

func (c *proxyConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	close(c.done)
	_ = c.client.Close()
	if c.server != nil {
		_ = c.server.Close()
	}
}

// setServer records the connection to the target, unless the connection was cut meanwhile.
func (c *proxyConn) setServer(server net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.server = server
	return true
}

// NewProxy starts a proxy to target ("host:port").
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testserver: proxy: %v", err)
	}
	open := make(chan struct{})
	close(open)
	p := &Proxy{target: target, l: l, open: open, conns: map[*proxyConn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.l.Addr().String() }

// Stall stops forwarding bytes in both directions, on current and new connections, while keeping
// every connection open: to its peers the network looks slow or partitioned, not down. Bytes
// sent meanwhile are delivered after Resume.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default: // already stalled
	}
}

// Resume forwards bytes again after Stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// Cut closes every current connection, as a server crash or a reset would look to clients. New
// connections are still accepted and forwarded.
func (p *Proxy) Cut() {
	p.mu.Lock()
	conns := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
}

// Break cuts every current connection and refuses new ones until Restore: they are accepted and
// closed at once, as a dead target behind a load balancer looks. The target stays up, so a test
// can still write to it directly while its client cannot reach it.
func (p *Proxy) Break() {
	p.mu.Lock()
	p.broken = true
	p.mu.Unlock()
	p.Cut()
}

// Restore forwards new connections again after Break.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.broken = false
}

// Close stops the proxy: it closes the listener and every connection, and waits for its
// goroutines to end. NewProxy registers it as a clean-up; calling it twice is harmless.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.l.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary errors (too many open files): back off rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		c := &proxyConn{client: client, done: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = client.Close()
			return
		}
		if p.broken {
			p.mu.Unlock()
			_ = client.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(c)
	}
}

func (p *Proxy) serve(c *proxyConn) {
	defer p.wg.Done()
	defer func() {
		c.close()
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}()
	server, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		return
	}
	if !c.setServer(server) { // cut while dialling
		_ = server.Close()
		return
	}
	var both sync.WaitGroup
	both.Add(2)
	go func() { defer both.Done(); p.pipe(c, server, c.client) }()
	go func() { defer both.Done(); p.pipe(c, c.client, server) }()
	both.Wait()
}

// pipe copies src to dst, waiting at the gate before each write. At EOF it half-closes dst so
// that protocols which read to the end still see it; any other error ends the connection.
func (p *Proxy) pipe(c *proxyConn, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			select {
			case <-p.gate():
			case <-c.done:
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				c.close()
				return
			}
		}
		if errors.Is(err, io.EOF) {
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
				return
			}
		}
		if err != nil {
			c.close()
			return
		}
	}
}
