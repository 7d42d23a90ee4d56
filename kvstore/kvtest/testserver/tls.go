package testserver

import "testing"

// setupTLS makes a CA, a server certificate and a client configuration for a server started
// with WithTLS.
func setupTLS(t testing.TB, s *Server, o options) {
	t.Helper()
	if !o.tls {
		return
	}
	s.CA = NewCA(t)
	s.serverCert = s.CA.ServerCert(t)
	s.TLS = s.CA.ClientTLS(t)
}
