// Package v1alpha1 holds the types shared by every ACK-compatible kind:
// status.ackResourceMetadata, status.conditions and the annotation and
// condition names, with the field names of ACK's services.k8s.aws API.
package v1alpha1

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConditionType is the type of a condition in status.conditions.
type ConditionType string

// Condition types with ACK's meanings.
const (
	// ConditionTypeResourceSynced is True when the AWS resource matches the
	// spec and has reached a stable state, False while it has not (or on a
	// terminal error), Unknown after a non-terminal error.
	ConditionTypeResourceSynced ConditionType = "ACK.ResourceSynced"
	// ConditionTypeTerminal is True when the controller cannot make progress
	// without a change to the spec.
	ConditionTypeTerminal ConditionType = "ACK.Terminal"
	// ConditionTypeRecoverable is True after an error that a retry may fix.
	ConditionTypeRecoverable ConditionType = "ACK.Recoverable"
	// ConditionTypeAdvisory carries informational notices.
	ConditionTypeAdvisory ConditionType = "ACK.Advisory"
	// ConditionTypeLateInitialized reports late initialisation of server defaults.
	ConditionTypeLateInitialized ConditionType = "ACK.LateInitialized"
	// ConditionTypeReferencesResolved is present when the spec uses *Ref
	// fields: True once all resolved, Unknown while a referenced resource is
	// missing or not yet synced, False when one is Terminal or not allowed.
	ConditionTypeReferencesResolved ConditionType = "ACK.ReferencesResolved"
	// ConditionTypeReady summarises the others.
	ConditionTypeReady ConditionType = "Ready"
)

// Annotations read or written on ACK custom resources.
const (
	AnnotationRegion         = "services.k8s.aws/region"
	AnnotationDeletionPolicy = "services.k8s.aws/deletion-policy"
	AnnotationReadOnly       = "services.k8s.aws/read-only"
	AnnotationAdoptionPolicy = "services.k8s.aws/adoption-policy"
	AnnotationAdoptionFields = "services.k8s.aws/adoption-fields"
	AnnotationAdopted        = "services.k8s.aws/adopted"
)

// Deletion and adoption policy values.
const (
	DeletionPolicyDelete        = "delete"
	DeletionPolicyRetain        = "retain"
	AdoptionPolicyAdopt         = "adopt"
	AdoptionPolicyAdoptOrCreate = "adopt-or-create"
)

// AWSAccountID is a 12-digit AWS account id.
type AWSAccountID string

// AWSRegion is an AWS region name such as us-east-1.
type AWSRegion string

// AWSPartition is an AWS partition such as aws.
type AWSPartition string

// ARN is an Amazon Resource Name.
type ARN string

// ResourceMetadata is status.ackResourceMetadata.
type ResourceMetadata struct {
	// ARN of the AWS resource.
	ARN *ARN `json:"arn,omitempty"`
	// OwnerAccountID is the account that owns the resource.
	OwnerAccountID *AWSAccountID `json:"ownerAccountID,omitempty" ack:"required"`
	// Region the resource lives in.
	Region *AWSRegion `json:"region,omitempty" ack:"required"`
	// Partition of the account (aws, aws-cn, aws-us-gov).
	Partition *AWSPartition `json:"partition,omitempty"`
}

// Condition is one entry of status.conditions.
type Condition struct {
	Type               ConditionType          `json:"type" ack:"required"`
	Status             corev1.ConditionStatus `json:"status" ack:"required"`
	LastTransitionTime *metav1.Time           `json:"lastTransitionTime,omitempty"`
	Reason             *string                `json:"reason,omitempty"`
	Message            *string                `json:"message,omitempty"`
}

// ResourceStatus is embedded (inline) in every kind's status.
type ResourceStatus struct {
	// ACKResourceMetadata identifies the AWS resource.
	ACKResourceMetadata *ResourceMetadata `json:"ackResourceMetadata,omitempty"`
	// Conditions describe the latest reconcile loop.
	Conditions []*Condition `json:"conditions,omitempty"`
}

// ResourceReference names another ACK resource: {from: {name, namespace}}.
type ResourceReference struct {
	From *NamespacedName `json:"from,omitempty"`
}

// NamespacedName is the target of a reference.
type NamespacedName struct {
	Name      *string `json:"name,omitempty"`
	Namespace *string `json:"namespace,omitempty"`
}

// DeepCopyJSON copies in into out through JSON. The ACK kinds are plain
// JSON documents, so a JSON round trip is an exact deep copy for them.
func DeepCopyJSON(in, out any) {
	b, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		panic(err)
	}
}

// GetCondition returns the condition of type t, or nil.
func (s *ResourceStatus) GetCondition(t ConditionType) *Condition {
	for _, c := range s.Conditions {
		if c != nil && c.Type == t {
			return c
		}
	}
	return nil
}

// SecretKeyReference names one key of a Kubernetes Secret, e.g. RDS
// masterUserPassword: {name, namespace, key}. An empty namespace is the
// referencing resource's own.
type SecretKeyReference struct {
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Key       string `json:"key" ack:"required"`
}
