package controllers

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/kvmirror/kvmirror/api/v1alpha1"
)

// applyConfigMap makes the mirror's ConfigMap hold exactly mapped, and reports whether it wrote.
//
// It reads, compares and then creates or updates, rather than server-side applying: an update
// replaces data and binaryData whole, so keys that someone else added are removed and the
// ConfigMap stays an exact mirror (an apply would keep other managers' fields); and the update
// carries the resourceVersion of the copy whose owner was checked, so a ConfigMap that changed
// hands in between is never overwritten (the API server answers Conflict and we retry). Nothing is
// written when the ConfigMap is already equal, so resyncs cost no writes.
func (r *Reconciler) applyConfigMap(ctx context.Context, m *v1alpha1.KVMirror, mapped *mirrored) (bool, error) {
	key := client.ObjectKey{Namespace: m.Namespace, Name: m.ConfigMapName()}
	var cm corev1.ConfigMap
	err := r.client.Get(ctx, key, &cm)
	if apierrors.IsNotFound(err) {
		created, cerr := r.createConfigMap(ctx, m, mapped)
		if created || cerr != nil {
			return created, cerr
		}
		// It exists after all, outside the cache (which holds only kvmirror's ConfigMaps): look
		// at the real thing before deciding.
		err = r.apiReader.Get(ctx, key, &cm)
	}
	if err != nil {
		return false, apiError("read ConfigMap %q: %w", key.Name, err)
	}
	if !metav1.IsControlledBy(&cm, m) {
		return false, failure(v1alpha1.ReasonTargetConflict,
			"ConfigMap %q exists and is not owned by this KVMirror; it is left untouched (delete it, or set spec.target.configMapName)", key.Name)
	}
	if equalContent(&cm, mapped) && hasLabels(&cm, m) {
		return false, r.removeStale(ctx, m)
	}
	r.setContent(&cm, m, mapped)
	if err := r.client.Update(ctx, &cm); err != nil {
		return false, apiError("update ConfigMap %q: %w", key.Name, err)
	}
	r.recordWrite(m, &cm)
	return true, r.removeStale(ctx, m)
}

// createConfigMap creates the ConfigMap; (false, nil) means one already exists.
func (r *Reconciler) createConfigMap(ctx context.Context, m *v1alpha1.KVMirror, mapped *mirrored) (bool, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: m.Namespace, Name: m.ConfigMapName()}}
	if err := controllerutil.SetControllerReference(m, cm, r.client.Scheme()); err != nil {
		return false, err
	}
	r.setContent(cm, m, mapped)
	err := r.client.Create(ctx, cm)
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		return false, apiError("create ConfigMap %q: %w", cm.Name, err)
	}
	r.recordWrite(m, cm)
	return true, r.removeStale(ctx, m)
}

// removeStale deletes ConfigMaps this mirror wrote under an earlier spec.target.configMapName.
// Only ConfigMaps it controls are candidates, so a rename never deletes anyone else's.
func (r *Reconciler) removeStale(ctx context.Context, m *v1alpha1.KVMirror) error {
	var list corev1.ConfigMapList
	if err := r.client.List(ctx, &list, client.InNamespace(m.Namespace),
		client.MatchingLabels{v1alpha1.LabelMirror: m.Name}); err != nil {
		return apiError("list ConfigMaps of mirror: %w", err)
	}
	for i := range list.Items {
		cm := &list.Items[i]
		if cm.Name == m.ConfigMapName() || !metav1.IsControlledBy(cm, m) {
			continue
		}
		logf.FromContext(ctx).Info("deleting the ConfigMap of a former target name", "configMap", cm.Name)
		err := r.client.Delete(ctx, cm, client.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion})
		if err != nil && !apierrors.IsNotFound(err) {
			return apiError("delete former ConfigMap %q: %w", cm.Name, err)
		}
	}
	return nil
}

func (r *Reconciler) setContent(cm *corev1.ConfigMap, m *v1alpha1.KVMirror, mapped *mirrored) {
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[v1alpha1.LabelManagedBy] = v1alpha1.ManagedByValue
	cm.Labels[v1alpha1.LabelMirror] = m.Name
	cm.Data = mapped.Data
	cm.BinaryData = mapped.BinaryData
	if r.holder != nil {
		identity, term := r.holder()
		if cm.Annotations == nil {
			cm.Annotations = map[string]string{}
		}
		cm.Annotations[v1alpha1.AnnotationLeader] = identity
		cm.Annotations[v1alpha1.AnnotationLeaderTerm] = strconv.FormatUint(term, 10)
	}
}

func hasLabels(cm *corev1.ConfigMap, m *v1alpha1.KVMirror) bool {
	return cm.Labels[v1alpha1.LabelManagedBy] == v1alpha1.ManagedByValue && cm.Labels[v1alpha1.LabelMirror] == m.Name
}

// equalContent compares data and binaryData, counting a missing map as empty: the API server
// drops empty maps.
func equalContent(cm *corev1.ConfigMap, mapped *mirrored) bool {
	return maps.Equal(cm.Data, mapped.Data) &&
		maps.EqualFunc(cm.BinaryData, mapped.BinaryData, func(a, b []byte) bool { return string(a) == string(b) })
}

func apiError(format string, args ...any) error {
	return &syncError{reason: v1alpha1.ReasonAPIError, err: fmt.Errorf(format, args...)}
}

// recordWrite remembers the version of the ConfigMap the mirror just wrote; see wroteVersion.
func (r *Reconciler) recordWrite(m *v1alpha1.KVMirror, cm *corev1.ConfigMap) {
	r.writtenMu.Lock()
	defer r.writtenMu.Unlock()
	r.written[client.ObjectKeyFromObject(m)] = cm.Name + "/" + cm.ResourceVersion
}

// wroteVersion reports whether cm is exactly the version mirror last wrote: the watch event of
// our own write.
func (r *Reconciler) wroteVersion(mirror types.NamespacedName, cm *corev1.ConfigMap) bool {
	r.writtenMu.Lock()
	defer r.writtenMu.Unlock()
	return r.written[mirror] == cm.Name+"/"+cm.ResourceVersion
}
