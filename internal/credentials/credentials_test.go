package credentials

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned returns a PEM certificate and its PEM private key.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IsCA:         true,
		KeyUsage:     x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

func TestTLS(t *testing.T) {
	cert, key := selfSigned(t)
	_, otherKey := selfSigned(t)
	tests := []struct {
		name     string
		in       PEM
		wantErr  func(error) bool
		roots    bool
		hasCerts bool
	}{
		{name: "empty", in: PEM{ServerName: "kv"}},
		{name: "CA only", in: PEM{CA: cert}, roots: true},
		{name: "client pair", in: PEM{CA: cert, Cert: cert, Key: key}, roots: true, hasCerts: true},
		{name: "CA without PEM", in: PEM{CA: []byte("not pem")},
			wantErr: func(err error) bool { return errors.Is(err, ErrNoCertificate) }},
		{name: "mismatched pair", in: PEM{Cert: cert, Key: otherKey},
			wantErr: func(err error) bool { var kp *KeyPairError; return errors.As(err, &kp) }},
		{name: "key without cert", in: PEM{Key: key},
			wantErr: func(err error) bool { var kp *KeyPairError; return errors.As(err, &kp) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := TLS(tt.in)
			if tt.wantErr != nil {
				if err == nil || !tt.wantErr(err) {
					t.Fatalf("TLS() error = %v, want the documented error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MinVersion != tls.VersionTLS12 || cfg.ServerName != tt.in.ServerName {
				t.Errorf("MinVersion %x, ServerName %q", cfg.MinVersion, cfg.ServerName)
			}
			if (cfg.RootCAs != nil) != tt.roots || (len(cfg.Certificates) > 0) != tt.hasCerts {
				t.Errorf("roots %v, certificates %d", cfg.RootCAs != nil, len(cfg.Certificates))
			}
		})
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cert, key := selfSigned(t)
	f := Files{
		CA: write("ca.pem", cert), Cert: write("cert.pem", cert), Key: write("key.pem", key),
		Password: write("password", []byte(" secret\n")), Token: write("token", []byte("tok\n")),
	}
	cfg, err := f.TLS()
	if err != nil || cfg == nil || cfg.RootCAs == nil || len(cfg.Certificates) != 1 {
		t.Fatalf("TLS() = %v, %v", cfg, err)
	}
	password, token, err := f.Secrets()
	if err != nil || password != "secret" || token != "tok" {
		t.Fatalf("Secrets() = %q, %q, %v", password, token, err)
	}

	if cfg, err := (&Files{Password: f.Password}).TLS(); cfg != nil || err != nil {
		t.Errorf("no TLS setting: TLS() = %v, %v, want nil, nil", cfg, err)
	}
	bad := Files{CA: write("bad.pem", []byte("junk"))}
	if _, err := bad.TLS(); err == nil || err.Error() != bad.CA+" holds no PEM certificate" {
		t.Errorf("CA without PEM: %v", err)
	}
	if _, err := (&Files{CA: filepath.Join(dir, "missing")}).TLS(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing CA file: %v, want os.ErrNotExist", err)
	}
	if _, _, err := (&Files{Token: filepath.Join(dir, "missing")}).Secrets(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing token file: %v, want os.ErrNotExist", err)
	}
}
