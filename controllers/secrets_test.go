package controllers

import (
	"context"
	"crypto/rand"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/onsi/gomega"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
	"github.com/kvmirror/kvmirror/kvstore/consul"
	"github.com/kvmirror/kvmirror/kvstore/etcd"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
	"github.com/kvmirror/kvmirror/kvstore/zookeeper"
)

// secureBackend is a server that requires a client certificate and credentials, started by one
// case of TestSecrets, with what the case needs to mirror it from Secrets.
type secureBackend struct {
	typ v1alpha1.BackendType
	srv *testserver.Server
	// writer writes the test's keys as an identity that the right credentials can read.
	writer kvstore.Store
	// right and wrong are the credentials Secret's data: credentials the server lets read the
	// prefix, and credentials it refuses.
	right, wrong map[string]string
	// then, when set, runs the backend's own steps once the common ones are done.
	then func(t *testing.T, r *secretsRun)
}

// secretsRun is the state the common steps of TestSecrets leave: the mirror "secure" reads
// prefix with the right credentials, and its ConfigMap holds a=1 and b=2.
type secretsRun struct {
	h         *harness
	b         *secureBackend
	prefix    string
	tlsSecret *corev1.Secret
	creds     *corev1.Secret
}

// TestSecrets runs a mirror of each network backend whose server requires a client certificate
// and credentials, both from Secrets, on one server per backend: missing Secrets, wrong
// credentials, the fix, and a change that reaches the ConfigMap through the authenticated watch.
// Each backend then goes on with what is its own: etcd a password rotation and TLS material
// that does not parse, Consul tokens that Consul knows but whose policy does not cover the
// prefix, ZooKeeper a key below the prefix that another identity wrote.
func TestSecrets(t *testing.T) {
	for _, c := range []struct {
		name  string
		start func(t *testing.T) *secureBackend
	}{
		{"etcd", secureEtcd},
		{"consul", secureConsul},
		{"zookeeper", secureZooKeeper},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := startSuite(t)
			b := c.start(t)
			r := testSecretsCommon(t, h, b)
			if b.then != nil {
				b.then(t, r)
			}
		})
	}
}

func testSecretsCommon(t *testing.T, h *harness, b *secureBackend) *secretsRun {
	p := randomPrefix()
	put(t, b.writer, p+"/a", "1")
	tlsName, credsName := string(b.typ)+"-tls", string(b.typ)+"-creds"
	h.createMirror(t, "secure", v1alpha1.KVMirrorSpec{
		Prefix: p,
		Backend: v1alpha1.BackendSpec{
			Type:                 b.typ,
			Endpoints:            b.srv.Endpoints,
			TLSSecretRef:         &v1alpha1.TLSSecretReference{Name: tlsName, ServerName: testserver.TLSServerName},
			CredentialsSecretRef: &v1alpha1.SecretReference{Name: credsName},
			ConnectionTimeout:    &metav1.Duration{Duration: 3 * time.Second},
		},
	})
	// Neither Secret exists: the first one read, the TLS one, is named.
	h.eventuallyReadyMessage(t, "secure", metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound, `"`+tlsName+`"`)

	ca, err := os.ReadFile(b.srv.CA.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	cert := b.srv.CA.ClientCert(t, "kvmirror")
	r := &secretsRun{h: h, b: b, prefix: p}
	r.tlsSecret = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: tlsName},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"ca.crt": ca, "tls.crt": cert.CertPEM, "tls.key": cert.KeyPEM},
	}
	if err := h.client.Create(t.Context(), r.tlsSecret); err != nil {
		t.Fatal(err)
	}
	// The TLS Secret alone is not enough: the reason stays, and now names the credentials Secret.
	h.eventuallyReadyMessage(t, "secure", metav1.ConditionFalse, v1alpha1.ReasonSecretNotFound, `"`+credsName+`"`)

	r.creds = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: credsName},
		StringData: b.wrong,
	}
	if err := h.client.Create(t.Context(), r.creds); err != nil {
		t.Fatal(err)
	}
	// The certificate is accepted (a refused one is BackendUnreachable), the credentials are not.
	h.eventuallyReadyMessage(t, "secure", metav1.ConditionFalse, v1alpha1.ReasonPermissionDenied, "permission denied")
	// Nothing was read with the wrong credentials, so no ConfigMap was made.
	if _, err := h.getConfigMap(t.Context(), "secure"); !apierrors.IsNotFound(err) {
		t.Fatalf("ConfigMap with wrong credentials: got %v, want NotFound", err)
	}

	updateSecret(t, h, r.creds, b.right)
	h.eventuallyData(t, "secure", map[string]string{"a": "1"})
	h.eventuallyReady(t, "secure", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	// Only the watch, which runs with the same TLS material and credentials, brings a change
	// this soon: the resync is minutes away.
	put(t, b.writer, p+"/b", "2")
	h.eventuallyData(t, "secure", map[string]string{"a": "1", "b": "2"})
	return r
}

// secureEtcd: user root with a random password (etcd has no other identity in testserver).
// Then the password rotates (in etcd, then in the Secret): the mirror reconnects with the new
// one and the Store opened with the old one closes. Last, TLS material that does not parse
// stops the mirror while its ConfigMap stays.
func secureEtcd(t *testing.T) *secureBackend {
	srv := testserver.Etcd(t, testserver.WithTLS(), testserver.WithAuth())
	return &secureBackend{
		typ:    v1alpha1.BackendEtcd,
		srv:    srv,
		writer: openWriter(t, etcd.New, srv, &kvstore.Config{TLS: srv.TLS, Username: srv.Username, Password: srv.Password}),
		right:  map[string]string{"username": srv.Username, "password": srv.Password},
		wrong:  map[string]string{"username": srv.Username, "password": "wrong"},
		then:   testEtcdRotation,
	}
}

func testEtcdRotation(t *testing.T, r *secretsRun) {
	h, srv, gm := r.h, r.b.srv, g(t)
	oldKey := h.backendKey(t, "secure")
	gm.Expect(h.ctrl.pool.refs(oldKey)).To(gomega.BeNumerically(">=", 1))

	const rotated = "rotated-password"
	changeEtcdPassword(t, srv, rotated)
	updateSecret(t, h, r.creds, map[string]string{"password": rotated})
	gm.Eventually(func() int { return h.ctrl.pool.refs(oldKey) }).Should(gomega.BeZero(),
		"the Store opened with the old password should be closed")
	newKey := h.backendKey(t, "secure")
	gm.Expect(newKey).NotTo(gomega.Equal(oldKey))
	gm.Eventually(func() int { return h.ctrl.pool.refs(newKey) }).Should(gomega.BeNumerically(">=", 1))
	writer2 := openWriter(t, etcd.New, srv, &kvstore.Config{TLS: srv.TLS, Username: srv.Username, Password: rotated})
	put(t, writer2, r.prefix+"/c", "3")
	h.eventuallyData(t, "secure", map[string]string{"a": "1", "b": "2", "c": "3"})

	// Unusable TLS material: the mirror says so, stops reading, and the ConfigMap stays.
	r.tlsSecret.Data["ca.crt"] = []byte("not a certificate")
	if err := h.client.Update(t.Context(), r.tlsSecret); err != nil {
		t.Fatal(err)
	}
	h.eventuallyReadyMessage(t, "secure", metav1.ConditionFalse, v1alpha1.ReasonInvalidSecret, "ca.crt")
	gm.Eventually(func() bool { return h.ctrl.hasWatch(h.ns, "secure") }).Should(gomega.BeFalse())
	h.eventuallyData(t, "secure", map[string]string{"a": "1", "b": "2", "c": "3"})
}

// secureConsul: ACLs with default policy deny. The keys are written with the management token;
// the mirror's token has a policy that only reads below the test keys' root, as an operator
// would grant. The wrong token is one Consul does not know, which New refuses.
func secureConsul(t *testing.T) *secureBackend {
	srv := testserver.Consul(t, testserver.WithTLS(), testserver.WithAuth())
	acl := consulACL(t, srv)
	return &secureBackend{
		typ:    v1alpha1.BackendConsul,
		srv:    srv,
		writer: openWriter(t, consul.New, srv, &kvstore.Config{TLS: srv.TLS, Token: srv.Token}),
		right:  map[string]string{"token": acl.token(t, `key_prefix "kvmirror-test/" { policy = "read" }`)},
		// A well-formed token Consul never issued, so that only the token is wrong.
		wrong: map[string]string{"token": "00000000-0000-4000-8000-000000000000"},
		then: func(t *testing.T, r *secretsRun) {
			testConsulPolicies(t, r, acl)
		},
	}
}

// testConsulPolicies: tokens that Consul knows, so that New accepts them, but whose policy does
// not cover the mirror's prefix as it is. Consul does not refuse a listing the token may not
// fully read: it leaves out the keys the token may not read (and says so in the
// X-Consul-Results-Filtered-By-ACLs header). A mirror must not take hidden keys for deleted ones,
// so it must say PermissionDenied and keep its ConfigMap, as it does on etcd and ZooKeeper,
// which refuse such a read outright. And a policy that does cover the prefix must keep working
// when the prefix has no keys.
func testConsulPolicies(t *testing.T, r *secretsRun, acl *consulACLs) {
	h, p := r.h, r.prefix
	// refused puts a token with rules in the Secret, from Synced with the right token, so that
	// PermissionDenied can only be the new token's doing.
	refused := func(t *testing.T, rules string) {
		t.Helper()
		updateSecret(t, h, r.creds, r.b.right)
		h.eventuallyReady(t, "secure", metav1.ConditionTrue, v1alpha1.ReasonSynced)
		updateSecret(t, h, r.creds, map[string]string{"token": acl.token(t, rules)})
		h.eventuallyReadyMessage(t, "secure", metav1.ConditionFalse, v1alpha1.ReasonPermissionDenied, "permission denied")
		h.eventuallyData(t, "secure", map[string]string{"a": "1", "b": "2"})
	}
	t.Run("token that reads none of the prefix", func(t *testing.T) {
		// No policy at all (default deny), then a policy for a neighbour's prefix.
		refused(t, "")
		refused(t, `key_prefix "`+p+`-other/" { policy = "read" }`)
	})
	t.Run("token that reads part of the prefix", func(t *testing.T) {
		refused(t, `key_prefix "`+p+`/a" { policy = "read" }`)
	})
	t.Run("token that reads exactly the keys below the prefix", func(t *testing.T) {
		updateSecret(t, h, r.creds, r.b.right)
		h.eventuallyReady(t, "secure", metav1.ConditionTrue, v1alpha1.ReasonSynced)
		// key_prefix "<prefix>/" is the narrowest policy an operator would write for the mirror.
		// From Synced to Synced, the status cannot tell the tokens apart: the connection pool
		// can, and once the Store of the right token is closed, only the new token reads.
		old := h.backendKey(t, "secure")
		updateSecret(t, h, r.creds, map[string]string{"token": acl.token(t, `key_prefix "`+p+`/" { policy = "read" }`)})
		scoped := h.backendKey(t, "secure")
		gm := g(t)
		gm.Expect(scoped).NotTo(gomega.Equal(old))
		gm.Eventually(func() int { return h.ctrl.pool.refs(old) }).Should(gomega.BeZero())
		gm.Eventually(func() int { return h.ctrl.pool.refs(scoped) }).Should(gomega.BeNumerically(">=", 1))
		put(t, r.b.writer, p+"/c", "3")
		h.eventuallyData(t, "secure", map[string]string{"a": "1", "b": "2", "c": "3"})
		h.eventuallyReady(t, "secure", metav1.ConditionTrue, v1alpha1.ReasonSynced)
		// The last key goes: the ConfigMap empties and the mirror stays Synced.
		deleteTree(t, r.b.writer, p)
		h.eventuallyData(t, "secure", nil)
		h.eventuallyReady(t, "secure", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	})
}

// backendKey is the connection pool's key for the mirror's backend and Secrets as the API
// server has them now.
func (h *harness) backendKey(t *testing.T, name string) string {
	t.Helper()
	cfg, err := resolveBackend(t.Context(), h.client, h.getMirror(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.key
}

// consulACLs makes ACL tokens with the management token.
type consulACLs struct{ client *api.Client }

func consulACL(t *testing.T, srv *testserver.Server) *consulACLs {
	t.Helper()
	// Keep-alives off: no connection goroutine outlives a call, for the suite's leak check.
	tr := &http.Transport{TLSClientConfig: srv.TLS.Clone(), DisableKeepAlives: true}
	c, err := api.NewClient(&api.Config{Address: srv.Endpoints[0], Scheme: "https", Token: srv.Token,
		Transport: tr, HttpClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	return &consulACLs{client: c}
}

// token returns the secret of a new token whose policy has rules; none when rules is empty.
func (a *consulACLs) token(t *testing.T, rules string) string {
	t.Helper()
	tok := &api.ACLToken{Description: "kvmirror test"}
	if rules != "" {
		p, _, err := a.client.ACL().PolicyCreate(&api.ACLPolicy{Name: "kvmirror-test-" + randomName(), Rules: rules}, nil)
		if err != nil {
			t.Fatalf("create Consul policy: %v", err)
		}
		tok.Policies = []*api.ACLTokenPolicyLink{{ID: p.ID}}
	}
	tok, _, err := a.client.ACL().TokenCreate(tok, nil)
	if err != nil {
		t.Fatalf("create Consul token: %v", err)
	}
	return tok.SecretID
}

// secureZooKeeper: digest authentication, enforced. The keys are written as an identity of their
// own (not the super user, who passes every ACL), so their nodes carry an ACL for that identity
// alone. ZooKeeper accepts any digest credentials when a client adds them: the same user with
// a wrong password is refused only when it reads those nodes.
func secureZooKeeper(t *testing.T) *secureBackend {
	srv := testserver.ZooKeeper(t, testserver.WithTLS(), testserver.WithAuth())
	const user = "kvmirror-app"
	password := rand.Text()
	return &secureBackend{
		typ:    v1alpha1.BackendZooKeeper,
		srv:    srv,
		writer: openWriter(t, zookeeper.New, srv, &kvstore.Config{TLS: srv.TLS, Username: user, Password: password}),
		right:  map[string]string{"username": user, "password": password},
		wrong:  map[string]string{"username": user, "password": "wrong"},
		then:   testZooKeeperForeignKey,
	}
}

// testZooKeeperForeignKey: a key below the prefix written by another identity (the super user,
// who may create nodes anywhere) carries that identity's ACL, so the mirror's identity may not
// read it. The mirror says PermissionDenied and keeps its ConfigMap rather than leave the key
// out; once the key is gone, it is Synced again.
func testZooKeeperForeignKey(t *testing.T, r *secretsRun) {
	h, srv := r.h, r.b.srv
	super := openWriter(t, zookeeper.New, srv, &kvstore.Config{TLS: srv.TLS, Username: srv.Username, Password: srv.Password})
	put(t, super, r.prefix+"/foreign", "x")
	h.eventuallyReadyMessage(t, "secure", metav1.ConditionFalse, v1alpha1.ReasonPermissionDenied, "permission denied")
	h.eventuallyData(t, "secure", map[string]string{"a": "1", "b": "2"})
	del(t, super, r.prefix+"/foreign")
	h.eventuallyReady(t, "secure", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	h.eventuallyData(t, "secure", map[string]string{"a": "1", "b": "2"})
}

func openWriter(t *testing.T, open func(ctx context.Context, endpoints []string, cfg *kvstore.Config) (kvstore.Store, error),
	srv *testserver.Server, cfg *kvstore.Config,
) kvstore.Store {
	t.Helper()
	s, err := open(t.Context(), srv.Endpoints, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// eventuallyReadyMessage is eventuallyReady that also waits for the message to hold text: a
// reason may stay while its cause changes.
func (h *harness) eventuallyReadyMessage(t *testing.T, name string, status metav1.ConditionStatus, reason, text string) {
	t.Helper()
	g(t).Eventually(func(gm gomega.Gomega) {
		var m v1alpha1.KVMirror
		gm.Expect(h.client.Get(t.Context(), client.ObjectKey{Namespace: h.ns, Name: name}, &m)).To(gomega.Succeed())
		c := meta.FindStatusCondition(m.Status.Conditions, v1alpha1.ConditionReady)
		gm.Expect(c).NotTo(gomega.BeNil())
		gm.Expect(m.Status.ObservedGeneration).To(gomega.Equal(m.Generation))
		gm.Expect(c.Reason).To(gomega.Equal(reason), "message: %s", c.Message)
		gm.Expect(c.Status).To(gomega.Equal(status))
		gm.Expect(c.Message).To(gomega.ContainSubstring(text))
	}).Should(gomega.Succeed(), "KVMirror %s/%s Ready=%s/%s mentioning %q", h.ns, name, status, reason, text)
}

// updateSecret merges data into the Secret (the API server merges stringData into data).
func updateSecret(t *testing.T, h *harness, s *corev1.Secret, data map[string]string) {
	t.Helper()
	s.StringData = data
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
