package testserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// TLSServerName is the name the server certificates are issued for and that ClientTLS expects.
// Clients verify it rather than the endpoint's IP address so that one configuration works for
// any endpoint, proxies included.
const TLSServerName = "localhost"

// CA is a certificate authority made for one test. Its certificates last a day, use ECDSA P-256
// keys, and are written as PEM files under a temporary folder so servers can read them.
type CA struct {
	// Cert is the CA certificate and CertFile a PEM file holding it.
	Cert     *x509.Certificate
	CertFile string

	key    *ecdsa.PrivateKey
	dir    string
	serial atomic.Int64
}

// Cert is a certificate issued by a CA, with its key, in memory and as PEM files.
type Cert struct {
	// TLS holds the certificate chain and key, ready for tls.Config.Certificates.
	TLS tls.Certificate
	// CertPEM is the certificate; KeyPEM the private key in PKCS #8.
	CertPEM, KeyPEM []byte
	// CertFile and KeyFile hold CertPEM and KeyPEM; BundleFile holds the key followed by the
	// certificate, the single-file form ZooKeeper's PEM key store reads.
	CertFile, KeyFile, BundleFile string
}

// NewCA makes a new CA for the test.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testserver: CA key: %v", err)
	}
	ca := &CA{key: key, dir: t.TempDir()}
	tmpl := ca.template("kvmirror test CA")
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("testserver: CA certificate: %v", err)
	}
	if ca.Cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatalf("testserver: CA certificate: %v", err)
	}
	ca.CertFile = filepath.Join(ca.dir, "ca.pem")
	writeFile(t, ca.CertFile, pemBlock("CERTIFICATE", der))
	return ca
}

// Pool returns a pool holding only this CA.
func (c *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(c.Cert)
	return pool
}

// ServerCert issues a server certificate for 127.0.0.1, ::1, localhost and any extra host names
// or IP addresses given.
func (c *CA) ServerCert(t testing.TB, hosts ...string) *Cert {
	t.Helper()
	tmpl := c.template("kvmirror test server")
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	addHosts(tmpl, append([]string{"127.0.0.1", "::1", TLSServerName}, hosts...))
	return c.issue(t, tmpl, "server")
}

// ClientCert issues a client certificate with the given common name. It also names 127.0.0.1 and
// localhost because ZooKeeper, by default, checks a client certificate against the client's
// address.
func (c *CA) ClientCert(t testing.TB, commonName string) *Cert {
	t.Helper()
	tmpl := c.template(commonName)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	addHosts(tmpl, []string{"127.0.0.1", "::1", TLSServerName})
	return c.issue(t, tmpl, "client")
}

// ClientTLS returns a client configuration that trusts only this CA, presents a new client
// certificate (common name "kvmirror-test-client") and expects TLSServerName.
func (c *CA) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	cert := c.ClientCert(t, "kvmirror-test-client")
	return &tls.Config{
		RootCAs:      c.Pool(),
		Certificates: []tls.Certificate{cert.TLS},
		ServerName:   TLSServerName,
		MinVersion:   tls.VersionTLS12,
	}
}

func (c *CA) template(commonName string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: big.NewInt(c.serial.Add(1)),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"kvmirror tests"}},
		// Backdated so that a clock a little behind the test's does not reject a fresh certificate.
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(24 * time.Hour),
		KeyUsage:  x509.KeyUsageDigitalSignature,
	}
}

func (c *CA) issue(t testing.TB, tmpl *x509.Certificate, name string) *Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testserver: %s key: %v", name, err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatalf("testserver: %s certificate: %v", name, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("testserver: %s key: %v", name, err)
	}
	cert := &Cert{CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER)}
	if cert.TLS, err = tls.X509KeyPair(cert.CertPEM, cert.KeyPEM); err != nil {
		t.Fatalf("testserver: %s key pair: %v", name, err)
	}
	// Serial numbers make the file names unique within the CA's folder.
	prefix := filepath.Join(c.dir, name+"-"+tmpl.SerialNumber.String())
	cert.CertFile, cert.KeyFile, cert.BundleFile = prefix+".pem", prefix+"-key.pem", prefix+"-bundle.pem"
	writeFile(t, cert.CertFile, cert.CertPEM)
	writeFile(t, cert.KeyFile, cert.KeyPEM)
	writeFile(t, cert.BundleFile, append(append([]byte{}, cert.KeyPEM...), cert.CertPEM...))
	return cert
}

func addHosts(tmpl *x509.Certificate, hosts []string) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("testserver: %v", err)
	}
}
