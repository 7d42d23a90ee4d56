package testserver

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // ZooKeeper's digest scheme is defined on SHA-1
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ZooKeeperTick is the tickTime of the ZooKeeper servers started here. Sessions may last from 2
// to 20 ticks, so a short tick lets session-expiry tests finish in seconds.
const ZooKeeperTick = 500 * time.Millisecond

// ZooKeeper starts a standalone ZooKeeper 3.8 (the Debian package) for the test, with TTL nodes
// enabled (zookeeper.extendedTypesEnabled, unless WithoutTTLNodes) and swept at the stock
// interval (a minute), a tickTime of ZooKeeperTick, four-letter-word commands allowed and the
// admin server off.
//
// With WithTLS, only the secure client port is open (Netty, PEM key and trust stores); the
// server requires a client certificate. With WithAuth, see WithAuth: clients must add digest
// credentials before anything else, and Username/Password are the digest super user.
func ZooKeeper(t testing.TB, opts ...Option) *Server {
	t.Helper()
	RequireBinaries(t, "ZooKeeper (Debian package zookeeper)", javaBin, zooKeeperJar)
	o := applyOptions(opts)
	s := newServer(t, "zookeeper")
	s.bin = javaBin
	setupTLS(t, s, o)
	cfgPath := filepath.Join(filepath.Dir(s.Dir), "zoo.cfg")
	if o.auth {
		s.Username, s.Password = "super", rand.Text()
	}
	s.args = zooKeeperArgs(s, o, cfgPath)
	s.ready = func(ctx context.Context) error {
		out, err := FourLetterWord(ctx, s.Endpoints[0], s.TLS, "srvr")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "Mode: standalone") {
			return fmt.Errorf("srvr: %q", out)
		}
		return nil
	}
	s.launch(t, func() {
		port := FreePort(t)
		s.Endpoints = []string{Loopback(port)}
		writeFile(t, cfgPath, []byte(zooKeeperConfig(s, o, port)))
	})
	return s
}

func zooKeeperArgs(s *Server, o options, cfgPath string) []string {
	args := []string{
		// A small heap and the quick JIT tier: these servers hold little and live briefly.
		"-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Djava.net.preferIPv4Stack=true",
		// No znode.container.checkIntervalMs: the server sweeps expired TTL nodes once a minute,
		// as a stock server does, and the Store's own expiry is what tests of TTLs see.
		"-Dorg.slf4j.simpleLogger.showDateTime=true",
	}
	if !o.noTTLNodes {
		args = append(args, "-Dzookeeper.extendedTypesEnabled=true")
	}
	if s.Password != "" {
		args = append(args, "-Dzookeeper.DigestAuthenticationProvider.superDigest="+zkDigest(s.Username, s.Password))
	}
	// /usr/share/java holds several SLF4J bindings; the one listed first wins, and slf4j-simple
	// writes to stderr, which is the server's log.
	cp := strings.Join([]string{
		zooKeeperJar,
		filepath.Join(debianJavaLibs, "slf4j-api.jar"),
		filepath.Join(debianJavaLibs, "slf4j-simple.jar"),
		filepath.Join(debianJavaLibs, "*"),
	}, ":")
	return append(args, "-cp", cp, "org.apache.zookeeper.server.ZooKeeperServerMain", cfgPath)
}

func zooKeeperConfig(s *Server, o options, port int) string {
	lines := []string{
		fmt.Sprintf("tickTime=%d", ZooKeeperTick.Milliseconds()),
		"dataDir=" + s.Dir,
		"admin.enableServer=false",
		"4lw.commands.whitelist=*",
		"maxClientCnxns=0",
	}
	if o.tls {
		lines = append(lines,
			fmt.Sprintf("secureClientPort=%d", port),
			"secureClientPortAddress=127.0.0.1",
			"serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
			"ssl.keyStore.location="+s.serverCert.BundleFile,
			"ssl.keyStore.type=PEM",
			"ssl.trustStore.location="+s.CA.CertFile,
			"ssl.trustStore.type=PEM",
			"ssl.clientAuth=need",
			// Otherwise the server resolves the client's address and matches it against the
			// client certificate, which only slows the handshake here.
			"ssl.hostnameVerification=false",
		)
	} else {
		lines = append(lines, fmt.Sprintf("clientPort=%d", port), "clientPortAddress=127.0.0.1")
	}
	if o.auth {
		lines = append(lines, "enforce.auth.enabled=true", "enforce.auth.schemes=digest")
	}
	return strings.Join(lines, "\n") + "\n"
}

// zkDigest is ZooKeeper's digest of user:password, as its superDigest setting and digest ACLs
// expect: user:base64(sha1(user:password)).
func zkDigest(user, password string) string {
	sum := sha1.Sum([]byte(user + ":" + password)) //nolint:gosec // fixed by ZooKeeper
	return user + ":" + base64.StdEncoding.EncodeToString(sum[:])
}

// FourLetterWord sends a ZooKeeper four-letter-word command (srvr, stat, cons, mntr, ...) to addr,
// over TLS when cfg is not nil, and returns the answer.
func FourLetterWord(ctx context.Context, addr string, cfg *tls.Config, cmd string) (string, error) {
	var d net.Dialer
	var conn net.Conn
	var err error
	if cfg != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	if _, err := conn.Write([]byte(cmd)); err != nil {
		return "", err
	}
	var sb strings.Builder
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		sb.WriteString(sc.Text())
		sb.WriteByte('\n')
	}
	return sb.String(), sc.Err()
}
