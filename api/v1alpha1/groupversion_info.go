// Package v1alpha1 holds the kvmirror.io/v1alpha1 API: the KVMirror resource, which names a
// key/value backend and a key prefix and asks the operator to keep a ConfigMap equal to that prefix.
//
// The CRD in config/crd/bases and zz_generated.deepcopy.go are generated from the markers in this
// package (`make manifests generate`); edit the Go types, never the generated files.
//
// +kubebuilder:object:generate=true
// +groupName=kvmirror.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every type in this package.
	GroupVersion = schema.GroupVersion{Group: "kvmirror.io", Version: "v1alpha1"}

	// SchemeBuilder registers the package's types with a runtime.Scheme. It is apimachinery's,
	// so that importing the API pulls in no controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the package's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &KVMirror{}, &KVMirrorList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
