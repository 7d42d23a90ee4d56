package controllers

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
)

// eventAction is the action of every event the reconciler records (events.k8s.io requires one).
const eventAction = "Sync"

// maxEventNote is below the 1 KiB limit the API server puts on an event's note.
const maxEventNote = 1000

// updateStatus writes the outcome to the mirror's status, records events for what changed and
// updates the per-mirror metrics. Counters describing the ConfigMap (keyCount, bytes,
// lastSyncTime, backendIndex, skippedKeys) change only when the ConfigMap was brought up to date,
// so that while the backend is down they keep describing what the ConfigMap holds.
func (r *Reconciler) updateStatus(ctx context.Context, m *v1alpha1.KVMirror, res *outcome) error {
	before := m.DeepCopy()
	st := &m.Status
	st.ObservedGeneration = m.Generation
	st.ConfigMapName = m.ConfigMapName()
	if res.mapped != nil {
		now := metav1.Now()
		st.LastSyncTime = &now
		st.KeyCount = int32(min(res.mapped.Keys, math.MaxInt32))
		st.Bytes = res.mapped.Bytes
		st.BackendIndex = int64(min(res.mapped.MaxIndex, math.MaxInt64))
		st.SkippedKeyCount = int32(min(len(res.mapped.Skipped), math.MaxInt32))
		st.SkippedKeys = nil
		if len(res.mapped.Skipped) > 0 {
			st.SkippedKeys = slices.Clone(res.mapped.Skipped[:min(len(res.mapped.Skipped), v1alpha1.MaxSkippedKeys)])
		}
		mirroredKeys.WithLabelValues(m.Namespace, m.Name).Set(float64(res.mapped.Keys))
	}
	ready := metav1.ConditionFalse
	if res.reason == v1alpha1.ReasonSynced {
		ready = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type:               v1alpha1.ConditionReady,
		Status:             ready,
		Reason:             res.reason,
		Message:            cut(res.message, 4096),
		ObservedGeneration: m.Generation,
	})
	r.recordEvents(before, m, res)

	if equality.Semantic.DeepEqual(before.Status, m.Status) && r.statusSeen(before) {
		return nil
	}
	// The cached mirror may predate our last status write (reconciles of one mirror can follow
	// each other faster than the cache): the optimistic lock makes a patch computed from such a
	// copy fail with Conflict, and the reconcile retry, instead of leaving the fields that copy
	// already held at the values written since.
	err := r.client.Status().Patch(ctx, m, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsNotFound(err):
		return nil // deleted meanwhile; the delete event cleans up
	case err == nil:
		r.writtenMu.Lock()
		r.statusVersion[client.ObjectKeyFromObject(m)] = m.ResourceVersion
		r.writtenMu.Unlock()
	}
	return err
}

// statusSeen reports whether the cached copy m of a mirror holds our last status write, if this
// process made one: only then may an unchanged status go unwritten.
func (r *Reconciler) statusSeen(m *v1alpha1.KVMirror) bool {
	r.writtenMu.Lock()
	defer r.writtenMu.Unlock()
	v, ok := r.statusVersion[client.ObjectKeyFromObject(m)]
	return !ok || v == m.ResourceVersion
}

// recordEvents records an event when the ConfigMap was written, when the set of skipped keys
// changed, and when Ready changed reason, so that a failure is reported once when it starts and
// not at every retry.
func (r *Reconciler) recordEvents(before, m *v1alpha1.KVMirror, res *outcome) {
	if res.wrote {
		r.recorder.Eventf(m, nil, corev1.EventTypeNormal, "ConfigMapUpdated", eventAction,
			"ConfigMap %q updated from the store", m.ConfigMapName())
	}
	skippedChanged := res.mapped != nil &&
		(!equality.Semantic.DeepEqual(before.Status.SkippedKeys, m.Status.SkippedKeys) ||
			before.Status.SkippedKeyCount != m.Status.SkippedKeyCount)
	if skippedChanged && len(res.mapped.Skipped) > 0 {
		r.recorder.Eventf(m, nil, corev1.EventTypeWarning, v1alpha1.ReasonInvalidKeys, eventAction,
			"%s", cut(skippedNote(m, res.mapped.Skipped), maxEventNote))
		return
	}
	old := meta.FindStatusCondition(before.Status.Conditions, v1alpha1.ConditionReady)
	if old != nil && old.Reason == res.reason {
		return
	}
	kind := corev1.EventTypeWarning
	if res.reason == v1alpha1.ReasonSynced || res.reason == v1alpha1.ReasonSuspended {
		kind = corev1.EventTypeNormal
	}
	r.recorder.Eventf(m, nil, kind, res.reason, eventAction, "%s", cut(res.message, maxEventNote))
}

func skippedNote(m *v1alpha1.KVMirror, skipped []v1alpha1.SkippedKey) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d keys left out of ConfigMap %q:", len(skipped), m.ConfigMapName())
	for i, s := range skipped {
		if i == 3 {
			b.WriteString(" ... (see status.skippedKeys)")
			break
		}
		fmt.Fprintf(&b, " %s (%s);", cut(s.Key, 64), s.Reason)
	}
	return b.String()
}

// cut shortens s to at most n bytes, on a rune boundary, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - 3
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
