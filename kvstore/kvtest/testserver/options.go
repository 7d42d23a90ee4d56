package testserver

// Option changes how a server is started.
type Option func(*options)

type options struct {
	tls        bool
	auth       bool
	noTTLNodes bool
}

// WithTLS makes the server speak TLS on its client port, with certificates from a CA made for the
// test. The server requires a client certificate signed by that CA; Server.TLS is a client
// configuration that has one. Server.CA gives the CA, to build other (or bad) configurations.
func WithTLS() Option { return func(o *options) { o.tls = true } }

// WithAuth turns on the server's authentication. What a test gets back depends on the server:
//
//   - etcd (v3): user "root" with a random password, granted the root role, auth enabled.
//   - etcd v2: v2 auth enabled with user "root"; the guest role has lost every permission, so an
//     anonymous client is refused too.
//   - Consul: ACLs enabled with default policy deny; Server.Token is the initial management token.
//   - ZooKeeper: every client must authenticate with the digest scheme before any other request
//     (enforce.auth), and Username/Password are the digest super user, who passes every ACL.
//     Digest authentication itself accepts any user:password pair; a wrong password shows when
//     the client touches a node whose ACL names the right one.
func WithAuth() Option { return func(o *options) { o.auth = true } }

// WithoutTTLNodes starts ZooKeeper as it is configured by default, with its extended types off
// (no -Dzookeeper.extendedTypesEnabled), so that it refuses to create TTL nodes: the setting
// that a deployed server may lack and that a client must then report. Only ZooKeeper has it;
// the other starters ignore it.
func WithoutTTLNodes() Option { return func(o *options) { o.noTTLNodes = true } }

func applyOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
