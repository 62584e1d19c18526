// Package v1alpha1 is the iam.services.k8s.aws/v1alpha1 API: the Policy and
// Role kinds, field-compatible with ACK's iam-controller. Every spec field of
// ACK's Policy and Role is implemented.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// GroupVersion is iam.services.k8s.aws/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: "iam.services.k8s.aws", Version: "v1alpha1"}

// AddToScheme registers Policy, Role and their lists.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Policy{}, &PolicyList{}, &Role{}, &RoleList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Tag is one IAM tag.
type Tag struct {
	Key   *string `json:"key,omitempty"`
	Value *string `json:"value,omitempty"`
}

// PolicySpec is the desired state of a customer managed policy.
type PolicySpec struct {
	// Name of the policy; it cannot change once the policy exists.
	Name *string `json:"name,omitempty" ack:"required"`
	// Path of the policy (default "/"); it cannot change either.
	Path *string `json:"path,omitempty"`
	// Description is set at creation only: IAM cannot change it.
	Description *string `json:"description,omitempty"`
	// PolicyDocument is the JSON document; a change creates a new default
	// policy version.
	PolicyDocument *string `json:"policyDocument,omitempty" ack:"required"`
	Tags           []*Tag  `json:"tags,omitempty"`
}

// PolicyStatus is the observed state of a Policy.
type PolicyStatus struct {
	ackv1alpha1.ResourceStatus    `json:",inline"`
	AttachmentCount               *int64       `json:"attachmentCount,omitempty"`
	CreateDate                    *metav1.Time `json:"createDate,omitempty"`
	DefaultVersionID              *string      `json:"defaultVersionID,omitempty"`
	IsAttachable                  *bool        `json:"isAttachable,omitempty"`
	PermissionsBoundaryUsageCount *int64       `json:"permissionsBoundaryUsageCount,omitempty"`
	PolicyID                      *string      `json:"policyID,omitempty"`
	UpdateDate                    *metav1.Time `json:"updateDate,omitempty"`
}

// Policy is an IAM customer managed policy.
type Policy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              PolicySpec   `json:"spec,omitempty"`
	Status            PolicyStatus `json:"status,omitempty"`
}

// PolicyList is a list of Policies.
type PolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Policy `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (p *Policy) DeepCopyObject() runtime.Object { return p.DeepCopy() }

// DeepCopy returns a deep copy.
func (p *Policy) DeepCopy() *Policy {
	if p == nil {
		return nil
	}
	out := &Policy{}
	ackv1alpha1.DeepCopyJSON(p, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *PolicyList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &PolicyList{}
	ackv1alpha1.DeepCopyJSON(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (p *Policy) ACKStatus() *ackv1alpha1.ResourceStatus { return &p.Status.ResourceStatus }

// RoleSpec is the desired state of an IAM role.
type RoleSpec struct {
	// Name of the role; it cannot change once the role exists.
	Name *string `json:"name,omitempty" ack:"required"`
	// Path of the role (default "/"); it cannot change either.
	Path *string `json:"path,omitempty"`
	// AssumeRolePolicyDocument is the trust policy.
	AssumeRolePolicyDocument *string `json:"assumeRolePolicyDocument,omitempty" ack:"required"`
	Description              *string `json:"description,omitempty"`
	// InlinePolicies maps inline policy names to documents.
	InlinePolicies     map[string]*string `json:"inlinePolicies,omitempty"`
	MaxSessionDuration *int64             `json:"maxSessionDuration,omitempty"`
	// PermissionsBoundary is the ARN of the boundary policy.
	PermissionsBoundary    *string                        `json:"permissionsBoundary,omitempty"`
	PermissionsBoundaryRef *ackv1alpha1.ResourceReference `json:"permissionsBoundaryRef,omitempty"`
	// Policies are the ARNs of the attached managed policies.
	Policies []*string `json:"policies,omitempty"`
	// PolicyRefs name iam Policies in the namespace; exclusive with Policies.
	PolicyRefs []*ackv1alpha1.ResourceReference `json:"policyRefs,omitempty"`
	Tags       []*Tag                           `json:"tags,omitempty"`
}

// RoleLastUsed is when and where the role was last used.
type RoleLastUsed struct {
	LastUsedDate *metav1.Time `json:"lastUsedDate,omitempty"`
	Region       *string      `json:"region,omitempty"`
}

// RoleStatus is the observed state of a Role.
type RoleStatus struct {
	ackv1alpha1.ResourceStatus `json:",inline"`
	CreateDate                 *metav1.Time  `json:"createDate,omitempty"`
	RoleID                     *string       `json:"roleID,omitempty"`
	RoleLastUsed               *RoleLastUsed `json:"roleLastUsed,omitempty"`
}

// Role is an IAM role.
type Role struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              RoleSpec   `json:"spec,omitempty"`
	Status            RoleStatus `json:"status,omitempty"`
}

// RoleList is a list of Roles.
type RoleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Role `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (r *Role) DeepCopyObject() runtime.Object { return r.DeepCopy() }

// DeepCopy returns a deep copy.
func (r *Role) DeepCopy() *Role {
	if r == nil {
		return nil
	}
	out := &Role{}
	ackv1alpha1.DeepCopyJSON(r, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *RoleList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &RoleList{}
	ackv1alpha1.DeepCopyJSON(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (r *Role) ACKStatus() *ackv1alpha1.ResourceStatus { return &r.Status.ResourceStatus }
