package controllers

import (
	"testing"
	"time"

	"github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// TestEtcdKeyLayouts: a mirror on etcd shows the keys etcdctl wrote with and without a leading
// slash, follows later writes and deletions of either form through its watches alone (the
// resync is a day away), and leaves out a key written both ways, reporting each form.
func TestEtcdKeyLayouts(t *testing.T) {
	t.Parallel()
	h := startSuite(t)
	eps := testserver.Etcd(t).Endpoints
	p := randomPrefix()
	testserver.Etcdctl(t, eps, "put", p+"/db.host", "x")
	testserver.Etcdctl(t, eps, "put", "/"+p+"/db.port", "1")
	testserver.Etcdctl(t, eps, "put", p+"x/sibling", "shares the prefix as a string only")

	h.createMirror(t, "layouts", v1alpha1.KVMirrorSpec{
		Backend:      v1alpha1.BackendSpec{Type: v1alpha1.BackendEtcd, Endpoints: eps},
		Prefix:       p,
		ResyncPeriod: &metav1.Duration{Duration: 24 * time.Hour},
	})
	h.eventuallyData(t, "layouts", map[string]string{"db.host": "x", "db.port": "1"})
	h.eventuallyReadyMessage(t, "layouts", metav1.ConditionTrue, v1alpha1.ReasonSynced,
		`holds the 2 keys below "`+p+`", read from the etcd keys "/`+p+`/..." and "`+p+`/..."`)

	testserver.Etcdctl(t, eps, "put", p+"/db.user", "u")
	h.eventuallyData(t, "layouts", map[string]string{"db.host": "x", "db.port": "1", "db.user": "u"})
	testserver.Etcdctl(t, eps, "del", "/"+p+"/db.port")
	h.eventuallyData(t, "layouts", map[string]string{"db.host": "x", "db.user": "u"})
	testserver.Etcdctl(t, eps, "put", "/"+p+"/db.pool", "5")
	h.eventuallyData(t, "layouts", map[string]string{"db.host": "x", "db.user": "u", "db.pool": "5"})
	testserver.Etcdctl(t, eps, "del", p+"/db.host")
	h.eventuallyData(t, "layouts", map[string]string{"db.user": "u", "db.pool": "5"})
	gm := g(t)
	gm.Eventually(func() int32 { return h.getMirror(t, "layouts").Status.KeyCount }).Should(gomega.BeEquivalentTo(2))

	t.Run("a key in both forms is a collision", func(t *testing.T) { testLayoutCollision(t, h, eps, p) })
}

func testLayoutCollision(t *testing.T, h *harness, eps []string, p string) {
	testserver.Etcdctl(t, eps, "put", p+"/both", "plain")
	testserver.Etcdctl(t, eps, "put", "/"+p+"/both", "slash")
	m := h.eventuallyReady(t, "layouts", metav1.ConditionFalse, v1alpha1.ReasonInvalidKeys)
	gm := g(t)
	gm.Expect(m.Status.SkippedKeyCount).To(gomega.BeEquivalentTo(2))
	gm.Expect(m.Status.SkippedKeys).To(gomega.HaveLen(2))
	for i, form := range []string{`"/` + p + `/both" (slash layout)`, `"` + p + `/both" (plain layout)`} {
		s := m.Status.SkippedKeys[i]
		gm.Expect(s.Key).To(gomega.Equal("both"))
		gm.Expect(s.Reason).To(gomega.Equal(v1alpha1.SkipCollision))
		gm.Expect(s.Message).To(gomega.HavePrefix("this is etcd key " + form + "; "))
		gm.Expect(s.Message).To(gomega.ContainSubstring("written both with and without a leading slash"))
	}
	gm.Expect(m.Status.KeyCount).To(gomega.BeEquivalentTo(2))
	h.eventuallyData(t, "layouts", map[string]string{"db.user": "u", "db.pool": "5"})
	h.eventuallyEvent(t, "layouts", v1alpha1.ReasonInvalidKeys)

	// With one form gone, the other is mirrored.
	testserver.Etcdctl(t, eps, "del", "/"+p+"/both")
	h.eventuallyData(t, "layouts", map[string]string{"db.user": "u", "db.pool": "5", "both": "plain"})
	m = h.eventuallyReady(t, "layouts", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	gm.Expect(m.Status.SkippedKeys).To(gomega.BeEmpty())
	gm.Expect(m.Status.SkippedKeyCount).To(gomega.BeZero())
}
