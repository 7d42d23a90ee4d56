package controllers

import (
	"os"
	"testing"
	"time"

	"github.com/onsi/gomega"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/internal/testserver"
	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
)

// TestSecrets runs a mirror of an etcd that requires a client certificate and a password, both
// from Secrets: a missing Secret, a wrong password, a fix, a rotation (the password changes in
// etcd and in the Secret: the mirror reconnects with the new one and the old Store closes), and
// TLS material that does not parse.
func TestSecrets(t *testing.T) {
	h := startSuite(t)
	srv := testserver.Etcd(t, testserver.WithTLS(), testserver.WithAuth())
	writer, err := etcd.New(t.Context(), srv.Endpoints, &kvstore.Config{TLS: srv.TLS, Username: srv.Username, Password: srv.Password})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = writer.Close() }()
	p := randomPrefix()
	put(t, writer, p+"/a", "1")

	h.createMirror(t, "secure", v1alpha1.KVMirrorSpec{
		Prefix: p,
		Backend: v1alpha1.BackendSpec{
			Type:                 v1alpha1.BackendEtcd,
			Endpoints:            srv.Endpoints,
			TLSSecretRef:         &v1alpha1.TLSSecretReference{Name: "etcd-tls", ServerName: testserver.TLSServerName},
			CredentialsSecretRef: &v1alpha1.SecretReference{Name: "etcd-creds"},
			ConnectionTimeout:    &metav1.Duration{Duration: 3 * time.Second},
		},
	})
	m := h.eventuallyReady(t, "secure", metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound)
	gm := g(t)
	gm.Expect(readyCondition(m).Message).To(gomega.ContainSubstring(`"etcd-tls"`))

	ca, err := os.ReadFile(srv.CA.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	cert := srv.CA.ClientCert(t, "kvmirror")
	tlsSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "etcd-tls"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"ca.crt": ca, "tls.crt": cert.CertPEM, "tls.key": cert.KeyPEM},
	}
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "etcd-creds"},
		StringData: map[string]string{"username": srv.Username, "password": "wrong"},
	}
	for _, s := range []*corev1.Secret{tlsSecret, creds} {
		if err := h.client.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	h.eventuallyReady(t, "secure", metav1.ConditionFalse, v1alpha1.ReasonPermissionDenied)

	setPassword(t, h, creds, srv.Password)
	h.eventuallyData(t, "secure", map[string]string{"a": "1"})
	m = h.eventuallyReady(t, "secure", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	oldCfg, err := resolveBackend(t.Context(), h.client, m)
	if err != nil {
		t.Fatal(err)
	}
	gm.Expect(h.ctrl.pool.refs(oldCfg.key)).To(gomega.BeNumerically(">=", 1))

	// Rotation: etcd gets a new root password, then the Secret does.
	const rotated = "rotated-password"
	changeEtcdPassword(t, srv, rotated)
	setPassword(t, h, creds, rotated)
	gm.Eventually(func() int { return h.ctrl.pool.refs(oldCfg.key) }).Should(gomega.BeZero(),
		"the Store opened with the old password should be closed")
	newCfg, err := resolveBackend(t.Context(), h.client, h.getMirror(t, "secure"))
	if err != nil {
		t.Fatal(err)
	}
	gm.Expect(newCfg.key).NotTo(gomega.Equal(oldCfg.key))
	gm.Eventually(func() int { return h.ctrl.pool.refs(newCfg.key) }).Should(gomega.BeNumerically(">=", 1))
	writer2, err := etcd.New(t.Context(), srv.Endpoints, &kvstore.Config{TLS: srv.TLS, Username: srv.Username, Password: rotated})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = writer2.Close() }()
	put(t, writer2, p+"/b", "2")
	h.eventuallyData(t, "secure", map[string]string{"a": "1", "b": "2"})

	// Unusable TLS material: the mirror says so, stops reading, and the ConfigMap stays.
	tlsSecret.Data["ca.crt"] = []byte("not a certificate")
	if err := h.client.Update(t.Context(), tlsSecret); err != nil {
		t.Fatal(err)
	}
	m = h.eventuallyReady(t, "secure", metav1.ConditionFalse, v1alpha1.ReasonInvalidSecret)
	gm.Expect(readyCondition(m).Message).To(gomega.ContainSubstring("ca.crt"))
	gm.Eventually(func() bool { return h.ctrl.hasWatch(h.ns, "secure") }).Should(gomega.BeFalse())
	h.eventuallyData(t, "secure", map[string]string{"a": "1", "b": "2"})
}

func readyCondition(m *v1alpha1.KVMirror) metav1.Condition {
	for _, c := range m.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c
		}
	}
	return metav1.Condition{}
}

func setPassword(t *testing.T, h *harness, s *corev1.Secret, password string) {
	t.Helper()
	s.StringData = map[string]string{"password": password}
	if err := h.client.Update(t.Context(), s); err != nil {
		t.Fatalf("update Secret: %v", err)
	}
}

func changeEtcdPassword(t *testing.T, srv *testserver.Server, password string) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints, TLS: srv.TLS,
		Username: srv.Username, Password: srv.Password, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cli.Close() }()
	if _, err := cli.UserChangePassword(t.Context(), srv.Username, password); err != nil {
		t.Fatalf("change etcd password: %v", err)
	}
}
