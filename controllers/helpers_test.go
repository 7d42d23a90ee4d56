package controllers

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
	"github.com/kvmirror/kvmirror/kvstore"
)

func (h *harness) createMirror(t *testing.T, name string, spec v1alpha1.KVMirrorSpec) *v1alpha1.KVMirror {
	t.Helper()
	m := &v1alpha1.KVMirror{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}, Spec: spec}
	if err := h.client.Create(t.Context(), m); err != nil {
		t.Fatalf("create KVMirror %s: %v", name, err)
	}
	// Deleted before the test's backend stops (clean-ups run last-in first-out): a mirror left
	// behind would keep retrying a dead backend and hold the shared manager's workers.
	t.Cleanup(func() {
		if err := h.client.Delete(context.Background(), m); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete KVMirror %s: %v", name, err)
		}
	})
	return m
}

func (h *harness) getMirror(t *testing.T, name string) *v1alpha1.KVMirror {
	t.Helper()
	var m v1alpha1.KVMirror
	if err := h.client.Get(t.Context(), client.ObjectKey{Namespace: h.ns, Name: name}, &m); err != nil {
		t.Fatalf("get KVMirror %s: %v", name, err)
	}
	return &m
}

// updateMirror changes a mirror's spec, retrying on conflicts with the controller's status writes.
func (h *harness) updateMirror(t *testing.T, name string, change func(*v1alpha1.KVMirror)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var m v1alpha1.KVMirror
		if err := h.client.Get(t.Context(), client.ObjectKey{Namespace: h.ns, Name: name}, &m); err != nil {
			return err
		}
		change(&m)
		return h.client.Update(t.Context(), &m)
	})
	if err != nil {
		t.Fatalf("update KVMirror %s: %v", name, err)
	}
}

func (h *harness) getConfigMap(ctx context.Context, name string) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	err := h.client.Get(ctx, client.ObjectKey{Namespace: h.ns, Name: name}, &cm)
	return &cm, err
}

// eventuallyData waits until the ConfigMap's data is exactly want (and binaryData empty).
func (h *harness) eventuallyData(t *testing.T, cmName string, want map[string]string) *corev1.ConfigMap {
	t.Helper()
	var cm *corev1.ConfigMap
	g(t).Eventually(func(gm gomega.Gomega) {
		var err error
		cm, err = h.getConfigMap(t.Context(), cmName)
		gm.Expect(err).NotTo(gomega.HaveOccurred())
		gm.Expect(orEmpty(cm.Data)).To(gomega.Equal(orEmpty(want)))
		gm.Expect(cm.BinaryData).To(gomega.BeEmpty())
	}).Should(gomega.Succeed(), "ConfigMap %s/%s", h.ns, cmName)
	return cm
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// eventuallyReady waits until the mirror's Ready condition has status and reason for its current
// generation, and returns the mirror.
func (h *harness) eventuallyReady(t *testing.T, name string, status metav1.ConditionStatus, reason string) *v1alpha1.KVMirror {
	t.Helper()
	var m v1alpha1.KVMirror
	g(t).Eventually(func(gm gomega.Gomega) {
		gm.Expect(h.client.Get(t.Context(), client.ObjectKey{Namespace: h.ns, Name: name}, &m)).To(gomega.Succeed())
		c := meta.FindStatusCondition(m.Status.Conditions, v1alpha1.ConditionReady)
		gm.Expect(c).NotTo(gomega.BeNil())
		gm.Expect(m.Status.ObservedGeneration).To(gomega.Equal(m.Generation))
		gm.Expect(c.Reason).To(gomega.Equal(reason), "message: %s", c.Message)
		gm.Expect(c.Status).To(gomega.Equal(status))
	}).Should(gomega.Succeed(), "KVMirror %s/%s Ready=%s/%s", h.ns, name, status, reason)
	return &m
}

// eventuallyEvent waits for an event about the mirror with the given reason.
func (h *harness) eventuallyEvent(t *testing.T, name, reason string) *eventsv1.Event {
	t.Helper()
	var found *eventsv1.Event
	g(t).Eventually(func() bool {
		var list eventsv1.EventList
		if err := h.client.List(t.Context(), &list, client.InNamespace(h.ns)); err != nil {
			return false
		}
		for i, e := range list.Items {
			if e.Regarding.Name == name && e.Regarding.Kind == "KVMirror" && e.Reason == reason {
				found = &list.Items[i]
				return true
			}
		}
		return false
	}).Should(gomega.BeTrue(), "event %s for %s/%s", reason, h.ns, name)
	return found
}

func put(t *testing.T, s kvstore.Store, key, value string) {
	t.Helper()
	if err := s.Put(t.Context(), key, []byte(value), nil); err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
}

func del(t *testing.T, s kvstore.Store, key string) {
	t.Helper()
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("delete %q: %v", key, err)
	}
}

func deleteTree(t *testing.T, s kvstore.Store, dir string) {
	t.Helper()
	if err := s.DeleteTree(t.Context(), dir); err != nil {
		t.Fatalf("delete tree %q: %v", dir, err)
	}
}

// gaugeSeries returns the value of a series of vec with exactly the given labels, and whether
// it exists.
func gaugeSeries(vec prometheus.Collector, labels map[string]string) (float64, bool) {
	ch := make(chan prometheus.Metric, 1024)
	go func() { vec.Collect(ch); close(ch) }()
	var value float64
	var found bool
	for m := range ch {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			continue
		}
		if matchLabels(out.GetLabel(), labels) {
			value, found = out.GetGauge().GetValue(), true
		}
	}
	return value, found
}

func matchLabels(pairs []*dto.LabelPair, want map[string]string) bool {
	if len(pairs) != len(want) {
		return false
	}
	for _, p := range pairs {
		if want[p.GetName()] != p.GetValue() {
			return false
		}
	}
	return true
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

func histogramCount(h prometheus.Histogram) uint64 {
	var m dto.Metric
	_ = h.Write(&m)
	return m.GetHistogram().GetSampleCount()
}
