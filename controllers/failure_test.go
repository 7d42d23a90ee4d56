package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore/kvtest/testserver"
)

// Outage tests let a mirror find out about a dead backend through its resync, so they set a
// short one; a watch that the Store keeps retrying does not close on its own.
const outageResync = 10 * time.Second

// TestBackendOutage cuts each network backend away from the manager, then stops and restarts
// its server. The ConfigMap keeps its data while the backend is away, Ready says why, and the
// first sync after recovery brings every change made meanwhile.
func TestBackendOutage(t *testing.T) {
	for _, b := range backends {
		if b.name == "boltdb" {
			continue // a local file has no outage to simulate
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			h := startSuite(t)
			fx := b.start(t)
			t.Run("partition", func(t *testing.T) { testPartition(t, h, fx) })
			t.Run("server restart", func(t *testing.T) { testServerRestart(t, h, fx) })
		})
	}
}

func outageSpec(fx *fixture, prefix string, endpoints ...string) v1alpha1.KVMirrorSpec {
	sp := spec(fx, prefix)
	if len(endpoints) > 0 {
		sp.Backend.Endpoints = endpoints
	}
	sp.Backend.ConnectionTimeout = &metav1.Duration{Duration: 2 * time.Second}
	sp.ResyncPeriod = &metav1.Duration{Duration: outageResync}
	return sp
}

func testPartition(t *testing.T, h *harness, fx *fixture) {
	p := randomPrefix()
	put(t, fx.store, p+"/a", "1")
	px := testserver.NewProxy(t, fx.server.Endpoints[0])
	h.createMirror(t, "partition", outageSpec(fx, p, px.Addr()))
	h.eventuallyData(t, "partition", map[string]string{"a": "1"})
	h.eventuallyReady(t, "partition", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	label := string(fx.spec.Type) + "://" + px.Addr()

	px.Break()
	h.eventuallyReady(t, "partition", metav1.ConditionFalse, v1alpha1.ReasonBackendUnreachable)
	gm := g(t)
	up, ok := gaugeSeries(backendUp, map[string]string{"backend": label})
	gm.Expect(ok).To(gomega.BeTrue())
	gm.Expect(up).To(gomega.BeZero())
	h.eventuallyEvent(t, "partition", v1alpha1.ReasonBackendUnreachable)

	// Changes the mirror cannot see yet; the ConfigMap keeps its last data meanwhile.
	put(t, fx.store, p+"/b", "2")
	put(t, fx.store, p+"/deep/c", "3")
	del(t, fx.store, p+"/a")
	cm, err := h.getConfigMap(t.Context(), "partition")
	gm.Expect(err).NotTo(gomega.HaveOccurred())
	gm.Expect(cm.Data).To(gomega.Equal(map[string]string{"a": "1"}))

	px.Restore()
	h.eventuallyData(t, "partition", map[string]string{"b": "2", "deep.c": "3"})
	h.eventuallyReady(t, "partition", metav1.ConditionTrue, v1alpha1.ReasonSynced)
	up, _ = gaugeSeries(backendUp, map[string]string{"backend": label})
	gm.Expect(up).To(gomega.BeEquivalentTo(1))
}

func testServerRestart(t *testing.T, h *harness, fx *fixture) {
	p := randomPrefix()
	put(t, fx.store, p+"/a", "1")
	h.createMirror(t, "restart", outageSpec(fx, p))
	h.eventuallyData(t, "restart", map[string]string{"a": "1"})

	fx.server.Stop(t)
	h.eventuallyReady(t, "restart", metav1.ConditionFalse, v1alpha1.ReasonBackendUnreachable)
	h.eventuallyData(t, "restart", map[string]string{"a": "1"})

	fx.server.Start(t)
	// The test's own client reconnects in its own time; retry the write until it does.
	g(t).Eventually(func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		return fx.store.Put(ctx, p+"/b", []byte("2"), nil)
	}).Should(gomega.Succeed())
	h.eventuallyData(t, "restart", map[string]string{"a": "1", "b": "2"})
	h.eventuallyReady(t, "restart", metav1.ConditionTrue, v1alpha1.ReasonSynced)
}

// TestTargetConflict: a ConfigMap that the mirror does not own is never touched, whether or not
// it carries kvmirror's labels; once it is gone, the mirror creates its own.
func TestTargetConflict(t *testing.T) {
	h := startSuite(t)
	fx := startBoltDB(t)
	p := randomPrefix()
	put(t, fx.store, p+"/a", "1")

	foreign := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "taken"},
		Data:       map[string]string{"mine": "yes"},
	}
	// This one looks like kvmirror's (labels copied) but has no owner reference.
	lookalike := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "lookalike", Labels: map[string]string{
			v1alpha1.LabelManagedBy: v1alpha1.ManagedByValue, v1alpha1.LabelMirror: "lookalike"}},
		Data: map[string]string{"mine": "too"},
	}
	for _, cm := range []*corev1.ConfigMap{foreign, lookalike} {
		if err := h.client.Create(t.Context(), cm); err != nil {
			t.Fatal(err)
		}
	}
	sp := spec(fx, p)
	sp.ResyncPeriod = &metav1.Duration{Duration: 10 * time.Second}
	sp.Target.ConfigMapName = "taken"
	h.createMirror(t, "conflict", sp)
	h.createMirror(t, "lookalike", spec(fx, p))
	h.eventuallyReady(t, "conflict", metav1.ConditionFalse, v1alpha1.ReasonTargetConflict)
	h.eventuallyReady(t, "lookalike", metav1.ConditionFalse, v1alpha1.ReasonTargetConflict)
	h.eventuallyEvent(t, "conflict", v1alpha1.ReasonTargetConflict)

	gm := g(t)
	for _, orig := range []*corev1.ConfigMap{foreign, lookalike} {
		gm.Consistently(func(gm gomega.Gomega) {
			cm, err := h.getConfigMap(t.Context(), orig.Name)
			gm.Expect(err).NotTo(gomega.HaveOccurred())
			gm.Expect(cm.ResourceVersion).To(gomega.Equal(orig.ResourceVersion))
			gm.Expect(cm.OwnerReferences).To(gomega.BeEmpty())
		}, time.Second).Should(gomega.Succeed())
	}

	// Gone: the mirror takes the name at its next resync (the foreign ConfigMap is outside the
	// manager's cache, so its deletion raises no event).
	if err := h.client.Delete(t.Context(), foreign); err != nil {
		t.Fatal(err)
	}
	h.eventuallyData(t, "taken", map[string]string{"a": "1"})
	h.eventuallyReady(t, "conflict", metav1.ConditionTrue, v1alpha1.ReasonSynced)
}

// TestConfigMapDrift: someone edits or deletes the mirror's ConfigMap; the mirror puts it back.
func TestConfigMapDrift(t *testing.T) {
	h := startSuite(t)
	fx := startBoltDB(t)
	p := randomPrefix()
	put(t, fx.store, p+"/a", "1")
	h.createMirror(t, "drift", spec(fx, p))
	cm := h.eventuallyData(t, "drift", map[string]string{"a": "1"})

	cm.Data["injected"] = "by hand"
	if err := h.client.Update(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	h.eventuallyData(t, "drift", map[string]string{"a": "1"})

	cm = h.eventuallyData(t, "drift", map[string]string{"a": "1"})
	if err := h.client.Delete(t.Context(), cm); err != nil {
		t.Fatal(err)
	}
	g(t).Eventually(func() bool {
		got, err := h.getConfigMap(t.Context(), "drift")
		return err == nil && got.UID != cm.UID && got.Data["a"] == "1"
	}).Should(gomega.BeTrue(), "the deleted ConfigMap should be recreated")
}
