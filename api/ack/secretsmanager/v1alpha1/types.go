// Package v1alpha1 is the secretsmanager.services.k8s.aws/v1alpha1 API: the
// Secret kind, field-compatible with ACK's secretsmanager-controller for the
// fields trellis implements. The other fields of ACK's Secret are declared
// too (tag ack:"unimplemented=<type>"), so the API server keeps them and the
// controller reports them as ACK.Terminal.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// GroupVersion is secretsmanager.services.k8s.aws/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: "secretsmanager.services.k8s.aws", Version: "v1alpha1"}

// AddToScheme registers Secret and SecretList.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Secret{}, &SecretList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Tag is one tag of the secret.
type Tag struct {
	Key   *string `json:"key,omitempty"`
	Value *string `json:"value,omitempty"`
}

// SecretSpec is the desired state of a Secret.
type SecretSpec struct {
	// Name of the secret in Secrets Manager.
	Name *string `json:"name,omitempty" ack:"required,immutable"`
	// Description of the secret.
	Description *string `json:"description,omitempty"`
	// KMSKeyID is the KMS key (ARN, id or alias) that encrypts the value.
	KMSKeyID *string `json:"kmsKeyID,omitempty"`
	// SecretString names the key of a Kubernetes Secret whose value is
	// stored; the value itself never appears in this object.
	SecretString *ackv1alpha1.SecretKeyReference `json:"secretString,omitempty"`
	// Tags of the secret.
	Tags []*Tag `json:"tags,omitempty"`

	// Fields of ACK's Secret that trellis does not implement: kept by the
	// API server and reported as ACK.Terminal when set.
	ForceOverwriteReplicaSecret any `json:"forceOverwriteReplicaSecret,omitempty" ack:"unimplemented=boolean"`
	KMSKeyRef                   any `json:"kmsKeyRef,omitempty" ack:"unimplemented=object"`
	ReplicaRegions              any `json:"replicaRegions,omitempty" ack:"unimplemented=array"`
}

// ReplicationStatusType is the state of one replica of the secret.
type ReplicationStatusType struct {
	KMSKeyID         *string      `json:"kmsKeyID,omitempty"`
	LastAccessedDate *metav1.Time `json:"lastAccessedDate,omitempty"`
	Region           *string      `json:"region,omitempty"`
	Status           *string      `json:"status,omitempty"`
	StatusMessage    *string      `json:"statusMessage,omitempty"`
}

// SecretStatus is the observed state of a Secret.
type SecretStatus struct {
	ackv1alpha1.ResourceStatus `json:",inline"`
	// ID is the secret's ARN (with the random suffix Secrets Manager adds).
	ID *string `json:"id,omitempty"`
	// VersionID is the version labelled AWSCURRENT.
	VersionID *string `json:"versionID,omitempty"`
	// ReplicationStatus lists the replicas of the secret.
	ReplicationStatus []*ReplicationStatusType `json:"replicationStatus,omitempty"`
	// SecretStringSourceVersion is a trellis extension: which Kubernetes
	// Secret (namespace/name/key) at which resourceVersion the value
	// versionID holds came from. With it a changed Secret is written again
	// without keeping any hash of the value.
	SecretStringSourceVersion *string `json:"secretStringSourceVersion,omitempty" ack:"extension"`
}

// Secret is a Secrets Manager secret.
type Secret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              SecretSpec   `json:"spec,omitempty"`
	Status            SecretStatus `json:"status,omitempty"`

	// ResolvedSecretString holds the value read from the Kubernetes Secret,
	// in memory only: it has no JSON name, so it never reaches the API
	// server. (Exported: the unstructured converter cannot skip an
	// unexported field.)
	ResolvedSecretString *ResolvedValue `json:"-"`
}

// ResolvedValue is the secret value and where it came from.
type ResolvedValue struct {
	Value string
	// Source is namespace/name/key@resourceVersion of the Kubernetes Secret.
	Source string
}

// SetResolved keeps the value read from the Kubernetes Secret in memory.
func (s *Secret) SetResolved(v *ResolvedValue) { s.ResolvedSecretString = v }

// Resolved returns the value read from the Kubernetes Secret, or nil.
func (s *Secret) Resolved() *ResolvedValue { return s.ResolvedSecretString }

// SecretList is a list of Secrets.
type SecretList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Secret `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (s *Secret) DeepCopyObject() runtime.Object { return s.DeepCopy() }

// DeepCopy returns a deep copy, including the in-memory resolved value.
func (s *Secret) DeepCopy() *Secret {
	if s == nil {
		return nil
	}
	out := &Secret{}
	ackv1alpha1.DeepCopyJSON(s, out)
	if s.ResolvedSecretString != nil {
		r := *s.ResolvedSecretString
		out.ResolvedSecretString = &r
	}
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *SecretList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &SecretList{}
	ackv1alpha1.DeepCopyJSON(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (s *Secret) ACKStatus() *ackv1alpha1.ResourceStatus { return &s.Status.ResourceStatus }
