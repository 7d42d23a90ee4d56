package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackendType names a kvstore backend.
//
// +kubebuilder:validation:Enum=etcd;etcdv2;consul;zookeeper;boltdb
type BackendType string

// The backends a KVMirror can read. Each is the name its kvstore package registers under.
const (
	BackendEtcd      BackendType = "etcd"
	BackendEtcdV2    BackendType = "etcdv2"
	BackendConsul    BackendType = "consul"
	BackendZooKeeper BackendType = "zookeeper"
	BackendBoltDB    BackendType = "boltdb"
)

// KVMirrorSpec is what a mirror reads and where it writes.
type KVMirrorSpec struct {
	// Backend is the key/value store to read.
	// +required
	Backend BackendSpec `json:"backend"`

	// Prefix is the directory of the store to mirror: every key below it, at any depth, becomes a
	// ConfigMap key. Leading, trailing and repeated '/' do not matter ("/app/config/" is
	// "app/config"). The root cannot be mirrored: a whole store rarely fits a ConfigMap, and it
	// would include other tenants' keys and kvmirror's own leadership lock.
	//
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule=`!self.matches('[\\x00-\\x1F\\x7F-\\x9F]')`,message="prefix must not contain control characters"
	// +kubebuilder:validation:XValidation:rule=`self.split('/').exists(s, s != '')`,message="prefix must name a directory below the root, not only '/'"
	// +kubebuilder:validation:XValidation:rule=`!self.split('/').exists(s, s == '.' || s == '..')`,message="prefix must not contain '.' or '..' segments"
	Prefix string `json:"prefix"`

	// Target is the ConfigMap the mirror writes and how keys are named in it.
	// +optional
	// +kubebuilder:default={}
	Target TargetSpec `json:"target,omitempty"`

	// ResyncPeriod is how often the mirror re-reads the whole prefix even without a watch event:
	// the safety net for a lost watch. Between 10s and 24h.
	//
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="resyncPeriod must be between 10s and 24h"
	ResyncPeriod *metav1.Duration `json:"resyncPeriod,omitempty"`

	// Suspend stops the mirror: its watch ends and the ConfigMap keeps its last data until the
	// mirror is resumed.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// BackendSpec says how to reach a key/value store.
//
// +kubebuilder:validation:XValidation:rule="self.type != 'boltdb' || (has(self.bucket) && size(self.bucket) > 0)",message="bucket is required when type is boltdb"
// +kubebuilder:validation:XValidation:rule="self.type == 'boltdb' || !has(self.bucket)",message="bucket applies only to type boltdb"
// +kubebuilder:validation:XValidation:rule="self.type != 'boltdb' || (size(self.endpoints) == 1 && self.endpoints[0].startsWith('/'))",message="a boltdb backend takes exactly one endpoint: the absolute path of the database file"
// +kubebuilder:validation:XValidation:rule=`self.type == 'boltdb' || self.endpoints.all(e, e.matches('^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}$'))`,message="endpoints of a network backend must be host:port, without a scheme (for example etcd-0.etcd:2379 or [fd00::1]:2379)"
// +kubebuilder:validation:XValidation:rule="self.type != 'boltdb' || (!has(self.tlsSecretRef) && !has(self.credentialsSecretRef))",message="a boltdb backend is a local file: tlsSecretRef and credentialsSecretRef do not apply"
type BackendSpec struct {
	// Type is the backend: etcd (v3 API), etcdv2, consul, zookeeper or boltdb.
	// +required
	Type BackendType `json:"type"`

	// Endpoints are the servers to reach, as host:port. For boltdb, the single endpoint is the
	// absolute path of the database file as the operator's pod sees it.
	//
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=1024
	// +listType=atomic
	Endpoints []string `json:"endpoints"`

	// Bucket is the BoltDB bucket holding the keys. Required for boltdb, not allowed otherwise.
	// +optional
	// +kubebuilder:validation:MaxLength=255
	Bucket string `json:"bucket,omitempty"`

	// TLSSecretRef names a Secret in the mirror's namespace with the TLS material: ca.crt (the CA
	// that signed the servers' certificates; without it the system roots are used), and tls.crt
	// with tls.key (a client certificate, when the servers ask for one). A kubernetes.io/tls
	// Secret fits. Without it the connection is plain text.
	// +optional
	TLSSecretRef *TLSSecretReference `json:"tlsSecretRef,omitempty"`

	// CredentialsSecretRef names a Secret in the mirror's namespace holding username and password
	// (etcd, etcdv2, ZooKeeper digest) or token (a Consul ACL token). Rotating its content makes
	// the mirror reconnect with the new credentials.
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`

	// ConnectionTimeout bounds each attempt to reach the backend. Between 100ms and 5m.
	//
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('100ms') && duration(self) <= duration('5m')",message="connectionTimeout must be between 100ms and 5m"
	ConnectionTimeout *metav1.Duration `json:"connectionTimeout,omitempty"`
}

// SecretReference names a Secret in the mirror's own namespace. There is deliberately no
// namespace field: a mirror reads Secrets only where it lives.
type SecretReference struct {
	// Name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,message="must be a Secret name: lower-case letters, digits, '-' and '.'"
	Name string `json:"name"`
}

// TLSSecretReference names the Secret with a backend's TLS material.
type TLSSecretReference struct {
	// Name of the Secret, in the mirror's namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,message="must be a Secret name: lower-case letters, digits, '-' and '.'"
	Name string `json:"name"`

	// ServerName is the name the servers' certificates must carry, when it differs from the host
	// in the endpoints (for example when endpoints are IP addresses).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServerName string `json:"serverName,omitempty"`
}

// Separator is the character that replaces '/' when a store key becomes a ConfigMap key.
//
// +kubebuilder:validation:Enum=".";"_";"-"
type Separator string

// TargetSpec is the ConfigMap a mirror writes.
type TargetSpec struct {
	// ConfigMapName is the ConfigMap to write, in the mirror's namespace. Defaults to the
	// mirror's name. A ConfigMap of that name that this mirror does not own is never touched.
	//
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,message="must be a ConfigMap name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
	ConfigMapName string `json:"configMapName,omitempty"`

	// Separator replaces each '/' of a key, once the prefix is stripped: with ".", the key
	// "<prefix>/db/host" becomes "db.host". Keys that cannot be mapped to a valid ConfigMap key,
	// and keys whose mapping collides with another's, are left out and listed in
	// status.skippedKeys.
	//
	// +optional
	// +kubebuilder:default="."
	Separator Separator `json:"separator,omitempty"`
}

// Condition types and reasons a KVMirror reports. Ready is True only when the ConfigMap holds
// every key below the prefix, exactly.
const (
	// ConditionReady is the mirror's one condition.
	ConditionReady = "Ready"

	// ReasonSynced: the ConfigMap equals the prefix (Ready=True).
	ReasonSynced = "Synced"
	// ReasonInvalidKeys: some keys could not be mapped or collide; the ConfigMap holds every
	// other key and status.skippedKeys lists the left-out ones (Ready=False).
	ReasonInvalidKeys = "InvalidKeys"
	// ReasonBackendUnreachable: the store could not be reached; the ConfigMap keeps its last data.
	ReasonBackendUnreachable = "BackendUnreachable"
	// ReasonPermissionDenied: the store refused the credentials; the ConfigMap keeps its last data.
	ReasonPermissionDenied = "PermissionDenied"
	// ReasonInvalidSpec: the spec passed the schema but cannot be used (a backend this build does
	// not include, a prefix the store rejects).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonSecretNotFound: a referenced Secret does not exist in the mirror's namespace.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidSecret: a referenced Secret lacks the expected keys or holds unusable material.
	ReasonInvalidSecret = "InvalidSecret"
	// ReasonTooLarge: the prefix holds more than a ConfigMap can; the ConfigMap keeps its last data.
	ReasonTooLarge = "TooLarge"
	// ReasonTargetConflict: a ConfigMap of the target name exists and is not this mirror's.
	ReasonTargetConflict = "TargetConflict"
	// ReasonSuspended: spec.suspend is true.
	ReasonSuspended = "Suspended"
	// ReasonAPIError: the Kubernetes API failed a read or a write (of a Secret, of the
	// ConfigMap); it is retried with backoff.
	ReasonAPIError = "APIError"
)

// Labels kvmirror puts on the ConfigMaps it writes.
const (
	// LabelManagedBy is app.kubernetes.io/managed-by, set to ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the value of LabelManagedBy on kvmirror's ConfigMaps.
	ManagedByValue = "kvmirror"
	// LabelMirror holds the name of the KVMirror that writes the ConfigMap.
	LabelMirror = "kvmirror.io/mirror"
)

// Annotations a manager that runs under KV leadership puts on every ConfigMap it writes: a record
// of which replica wrote which version, in which leadership term.
const (
	// AnnotationLeader holds the identity of the replica that wrote the ConfigMap.
	AnnotationLeader = "kvmirror.io/leader"
	// AnnotationLeaderTerm holds the term of that replica's leadership: the lock key's index when
	// it was elected, which grows with every election.
	AnnotationLeaderTerm = "kvmirror.io/leader-term"
)

// SkipReason says why a key was left out of the ConfigMap.
type SkipReason string

// Reasons a key is left out of the ConfigMap.
const (
	// SkipInvalidKey: the store holds a key that kvstore itself rejects (control characters,
	// invalid UTF-8, a "." or ".." segment), written by another client.
	SkipInvalidKey SkipReason = "InvalidKey"
	// SkipInvalidConfigMapKey: the mapped key is not a valid ConfigMap key (characters other than
	// letters, digits, '-', '_', '.'; longer than 253; ".", ".." or starting with "..").
	SkipInvalidConfigMapKey SkipReason = "InvalidConfigMapKey"
	// SkipCollision: two or more store keys map to the same ConfigMap key; all of them are left out.
	SkipCollision SkipReason = "Collision"
)

// SkippedKey is a store key that is not in the ConfigMap.
type SkippedKey struct {
	// Key is the store key below the prefix. A key that is not printable UTF-8 is shown Go-quoted,
	// and a long one is cut to 256 bytes, ending in "...".
	Key string `json:"key"`
	// Reason is InvalidKey, InvalidConfigMapKey or Collision.
	Reason SkipReason `json:"reason"`
	// Message explains the reason (the ConfigMap key it collides on, the rule it breaks).
	// +optional
	Message string `json:"message,omitempty"`
}

// MaxSkippedKeys bounds status.skippedKeys so that a prefix full of bad keys cannot make the
// status too large to store; status.skippedKeyCount has the full count.
const MaxSkippedKeys = 20

// KVMirrorStatus is what the operator observed at the last reconcile.
type KVMirrorStatus struct {
	// ObservedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, with reason Synced, InvalidKeys, BackendUnreachable, PermissionDenied,
	// InvalidSpec, SecretNotFound, InvalidSecret, TooLarge, TargetConflict, Suspended or APIError.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// ConfigMapName is the ConfigMap the mirror writes (spec.target.configMapName or its default).
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`

	// KeyCount is the number of keys in the ConfigMap after the last sync.
	// +optional
	KeyCount int32 `json:"keyCount"`

	// Bytes is the size of the ConfigMap's data and binaryData after the last sync, keys
	// included, as the API server counts it against its 1 MiB limit.
	// +optional
	Bytes int64 `json:"bytes"`

	// LastSyncTime is when the ConfigMap was last confirmed equal to the store.
	// +optional
	LastSyncTime *metav1.Time `json:"lastSyncTime,omitempty"`

	// BackendIndex is the highest LastIndex among the mirrored keys at the last sync (0 when the
	// prefix is empty): it moves whenever a key below the prefix is written.
	// +optional
	BackendIndex int64 `json:"backendIndex,omitempty"`

	// SkippedKeys lists keys left out of the ConfigMap at the last sync, at most 20.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	SkippedKeys []SkippedKey `json:"skippedKeys,omitempty"`

	// SkippedKeyCount is the number of keys left out, which may exceed the length of SkippedKeys.
	// +optional
	SkippedKeyCount int32 `json:"skippedKeyCount,omitempty"`
}

// KVMirror keeps a ConfigMap equal to the keys below a prefix of a key/value store.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=kvm,categories=kvmirror
// +kubebuilder:printcolumn:name="Backend",type=string,JSONPath=`.spec.backend.type`
// +kubebuilder:printcolumn:name="Prefix",type=string,JSONPath=`.spec.prefix`
// +kubebuilder:printcolumn:name="Keys",type=integer,JSONPath=`.status.keyCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="ConfigMap",type=string,JSONPath=`.status.configMapName`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KVMirror struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec KVMirrorSpec `json:"spec"`
	// +optional
	Status KVMirrorStatus `json:"status,omitempty"`
}

// ConfigMapName returns the ConfigMap the mirror writes: spec.target.configMapName, or the
// mirror's own name.
func (m *KVMirror) ConfigMapName() string {
	if m.Spec.Target.ConfigMapName != "" {
		return m.Spec.Target.ConfigMapName
	}
	return m.Name
}

// KVMirrorList is a list of KVMirrors.
//
// +kubebuilder:object:root=true
type KVMirrorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KVMirror `json:"items"`
}
