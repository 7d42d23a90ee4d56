package controllers

import (
	"testing"
	"time"

	"github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
)

// TestMirror runs the operator's everyday behaviour against every backend, each on its real
// server: keys at any depth, suspend and resume, a prefix change, the mirror's deletion, and a
// second mirror sharing the connection.
func TestMirror(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			h := startSuite(t)
			fx := b.start(t)
			t.Run("keys at any depth", func(t *testing.T) { testKeys(t, h, fx) })
			t.Run("target name, separator and a shared connection", func(t *testing.T) { testTarget(t, h, fx) })
			t.Run("suspend and resume", func(t *testing.T) { testSuspend(t, h, fx) })
			t.Run("prefix change", func(t *testing.T) { testPrefixChange(t, h, fx) })
			t.Run("mirror deletion", func(t *testing.T) { testDelete(t, h, fx) })
		})
	}
}

func spec(fx *fixture, prefix string) v1alpha1.KVMirrorSpec {
	return v1alpha1.KVMirrorSpec{Backend: *fx.spec.DeepCopy(), Prefix: prefix}
}

// testKeys: creates, updates and deletes at any depth reach the ConfigMap, keys outside the
// prefix never do, and the status and owner reference say what they should.
func testKeys(t *testing.T, h *harness, fx *fixture) {
	s, p := fx.store, randomPrefix()
	put(t, s, p+"/a", "1")
	put(t, s, p+"/b/c", "2")
	put(t, s, p+"/d/e/f/g", "3")
	put(t, s, p+"x/sibling", "shares the prefix as a string only")
	put(t, s, p, "the directory itself is not below it")

	// The prefix is written non-canonically on purpose: slashes do not matter.
	h.createMirror(t, "keys", spec(fx, "/"+p+"//"))
	cm := h.eventuallyData(t, "keys", map[string]string{"a": "1", "b.c": "2", "d.e.f.g": "3"})
	m := h.eventuallyReady(t, "keys", metav1.ConditionTrue, v1alpha1.ReasonSynced)

	gm := g(t)
	gm.Expect(metav1.IsControlledBy(cm, m)).To(gomega.BeTrue(), "owner references %v", cm.OwnerReferences)
	gm.Expect(cm.Labels).To(gomega.HaveKeyWithValue(v1alpha1.LabelManagedBy, "kvmirror"))
	gm.Expect(cm.Labels).To(gomega.HaveKeyWithValue(v1alpha1.LabelMirror, "keys"))
	gm.Expect(m.Status.KeyCount).To(gomega.BeEquivalentTo(3))
	gm.Expect(m.Status.Bytes).To(gomega.BeEquivalentTo(len("a1b.c2d.e.f.g3")))
	gm.Expect(m.Status.LastSyncTime).NotTo(gomega.BeNil())
	gm.Expect(m.Status.BackendIndex).To(gomega.BeNumerically(">", 0))
	gm.Expect(m.Status.ConfigMapName).To(gomega.Equal("keys"))
	gm.Expect(m.Status.SkippedKeys).To(gomega.BeEmpty())
	firstIndex := m.Status.BackendIndex

	syncs, writes := counterValue(syncsTotal.WithLabelValues(v1alpha1.ReasonSynced)), histogramCount(eventToWrite)
	put(t, s, p+"/b/c", "20")
	h.eventuallyData(t, "keys", map[string]string{"a": "1", "b.c": "20", "d.e.f.g": "3"})
	// The write came from a watch event: the sync and its latency were counted.
	gm.Eventually(func() float64 { return counterValue(syncsTotal.WithLabelValues(v1alpha1.ReasonSynced)) }).Should(gomega.BeNumerically(">", syncs))
	gm.Eventually(func() uint64 { return histogramCount(eventToWrite) }).Should(gomega.BeNumerically(">", writes))
	del(t, s, p+"/a")
	h.eventuallyData(t, "keys", map[string]string{"b.c": "20", "d.e.f.g": "3"})
	deleteTree(t, s, p+"/d")
	h.eventuallyData(t, "keys", map[string]string{"b.c": "20"})
	put(t, s, p+"/new/deep/er/key", "x")
	h.eventuallyData(t, "keys", map[string]string{"b.c": "20", "new.deep.er.key": "x"})
	gm.Eventually(func() int32 { return h.getMirror(t, "keys").Status.KeyCount }).Should(gomega.BeEquivalentTo(2))
	gm.Expect(h.getMirror(t, "keys").Status.BackendIndex).To(gomega.BeNumerically(">", firstIndex))

	deleteTree(t, s, p)
	h.eventuallyData(t, "keys", nil)
	h.eventuallyReady(t, "keys", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	gm.Eventually(func() int32 { return h.getMirror(t, "keys").Status.KeyCount }).Should(gomega.BeZero())
	h.eventuallyEvent(t, "keys", "ConfigMapUpdated")
	value, ok := gaugeSeries(mirroredKeys, map[string]string{"namespace": h.ns, "name": "keys"})
	gm.Expect(ok).To(gomega.BeTrue())
	gm.Expect(value).To(gomega.BeZero())
}

// testTarget: a named target with another separator, and two mirrors of one backend sharing a
// Store (two watches hold it).
func testTarget(t *testing.T, h *harness, fx *fixture) {
	p := randomPrefix()
	put(t, fx.store, p+"/db/host", "h")
	put(t, fx.store, p+"/db.port", "5432")
	sp := spec(fx, p)
	sp.Target = v1alpha1.TargetSpec{ConfigMapName: "app-config", Separator: "_"}
	h.createMirror(t, "underscore", sp)
	h.createMirror(t, "dotted", spec(fx, p))
	h.eventuallyData(t, "app-config", map[string]string{"db_host": "h", "db.port": "5432"})
	h.eventuallyData(t, "dotted", map[string]string{"db.host": "h", "db.port": "5432"})
	h.eventuallyReady(t, "underscore", metav1.ConditionTrue, v1alpha1.ReasonSynced)

	m := h.getMirror(t, "dotted")
	cfg, err := resolveBackend(t.Context(), h.client, m)
	if err != nil {
		t.Fatal(err)
	}
	gm := g(t)
	gm.Eventually(func() int { return h.ctrl.pool.refs(cfg.key) }).Should(gomega.BeNumerically(">=", 2),
		"both mirrors' watches should hold the one shared Store")
	value, ok := gaugeSeries(backendUp, map[string]string{"backend": cfg.label})
	gm.Expect(ok).To(gomega.BeTrue())
	gm.Expect(value).To(gomega.BeEquivalentTo(1))

	// Renaming the target moves the data and deletes the ConfigMap of the old name, which the
	// mirror owns.
	h.updateMirror(t, "underscore", func(m *v1alpha1.KVMirror) { m.Spec.Target.ConfigMapName = "renamed" })
	h.eventuallyData(t, "renamed", map[string]string{"db_host": "h", "db.port": "5432"})
	gm.Eventually(func() bool {
		_, err := h.getConfigMap(t.Context(), "app-config")
		return apierrors.IsNotFound(err)
	}).Should(gomega.BeTrue(), "the ConfigMap of the former name should be deleted")
}

// testSuspend: a suspended mirror stops its watch and leaves the ConfigMap alone; resuming
// brings every change made meanwhile.
func testSuspend(t *testing.T, h *harness, fx *fixture) {
	p := randomPrefix()
	put(t, fx.store, p+"/a", "1")
	h.createMirror(t, "suspend", spec(fx, p))
	h.eventuallyData(t, "suspend", map[string]string{"a": "1"})

	h.updateMirror(t, "suspend", func(m *v1alpha1.KVMirror) { m.Spec.Suspend = true })
	h.eventuallyReady(t, "suspend", metav1.ConditionFalse, v1alpha1.ReasonSuspended)
	gm := g(t)
	gm.Eventually(func() bool { return h.ctrl.hasWatch(h.ns, "suspend") }).Should(gomega.BeFalse())
	put(t, fx.store, p+"/a", "2")
	put(t, fx.store, p+"/b", "3")
	gm.Consistently(func() map[string]string {
		cm, err := h.getConfigMap(t.Context(), "suspend")
		if err != nil {
			return nil
		}
		return cm.Data
	}).Should(gomega.Equal(map[string]string{"a": "1"}))

	h.updateMirror(t, "suspend", func(m *v1alpha1.KVMirror) { m.Spec.Suspend = false })
	h.eventuallyData(t, "suspend", map[string]string{"a": "2", "b": "3"})
	h.eventuallyReady(t, "suspend", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	gm.Expect(h.ctrl.hasWatch(h.ns, "suspend")).To(gomega.BeTrue())
}

// testPrefixChange: changing the prefix switches the ConfigMap and the watch to the new one.
func testPrefixChange(t *testing.T, h *harness, fx *fixture) {
	p1, p2 := randomPrefix(), randomPrefix()
	put(t, fx.store, p1+"/x", "1")
	put(t, fx.store, p2+"/y", "2")
	h.createMirror(t, "switch", spec(fx, p1))
	h.eventuallyData(t, "switch", map[string]string{"x": "1"})

	h.updateMirror(t, "switch", func(m *v1alpha1.KVMirror) { m.Spec.Prefix = p2 })
	h.eventuallyData(t, "switch", map[string]string{"y": "2"})
	// The old prefix is no longer mirrored, the new one is, live.
	put(t, fx.store, p1+"/z", "3")
	put(t, fx.store, p2+"/w", "4")
	h.eventuallyData(t, "switch", map[string]string{"y": "2", "w": "4"})
	h.eventuallyReady(t, "switch", metav1.ConditionTrue, v1alpha1.ReasonSynced)
}

// testDelete: the ConfigMap carries a controller owner reference to the mirror (envtest runs no
// garbage collector, so the reference is what is checked), the watch stops, the per-mirror
// metric goes, and later writes never reach the ConfigMap.
func testDelete(t *testing.T, h *harness, fx *fixture) {
	p := randomPrefix()
	put(t, fx.store, p+"/a", "1")
	m := h.createMirror(t, "gone", spec(fx, p))
	cm := h.eventuallyData(t, "gone", map[string]string{"a": "1"})
	gm := g(t)
	gm.Expect(cm.OwnerReferences).To(gomega.HaveLen(1))
	ref := cm.OwnerReferences[0]
	gm.Expect(ref.UID).To(gomega.Equal(m.UID))
	gm.Expect(ref.Kind).To(gomega.Equal("KVMirror"))
	gm.Expect(ref.Controller).To(gomega.HaveValue(gomega.BeTrue()))
	gm.Expect(ref.BlockOwnerDeletion).To(gomega.HaveValue(gomega.BeTrue()))
	gm.Expect(h.ctrl.hasWatch(h.ns, "gone")).To(gomega.BeTrue())

	if err := h.client.Delete(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	gm.Eventually(func() bool { return h.ctrl.hasWatch(h.ns, "gone") }).Should(gomega.BeFalse())
	gm.Eventually(func() bool {
		_, ok := gaugeSeries(mirroredKeys, map[string]string{"namespace": h.ns, "name": "gone"})
		return ok
	}).Should(gomega.BeFalse())
	put(t, fx.store, p+"/b", "2")
	gm.Consistently(func() map[string]string {
		cm, err := h.getConfigMap(t.Context(), "gone")
		if err != nil {
			return nil
		}
		return cm.Data
	}, 2*time.Second).Should(gomega.Equal(map[string]string{"a": "1"}))
}
