package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// IPRange is an IPv4 source or destination of a rule.
type IPRange struct {
	CIDRIP      *string `json:"cidrIP,omitempty"`
	Description *string `json:"description,omitempty"`
}

// IPv6Range is an IPv6 source or destination of a rule.
type IPv6Range struct {
	CIDRIPv6    *string `json:"cidrIPv6,omitempty"`
	Description *string `json:"description,omitempty"`
}

// PrefixListID is a managed prefix list source or destination of a rule.
type PrefixListID struct {
	Description  *string `json:"description,omitempty"`
	PrefixListID *string `json:"prefixListID,omitempty"`
}

// UserIDGroupPair is a security group source or destination of a rule.
type UserIDGroupPair struct {
	Description *string `json:"description,omitempty"`
	// GroupID or GroupRef (a SecurityGroup in the same namespace, its status.id).
	GroupID       *string                        `json:"groupID,omitempty"`
	GroupName     *string                        `json:"groupName,omitempty"`
	GroupRef      *ackv1alpha1.ResourceReference `json:"groupRef,omitempty"`
	PeeringStatus *string                        `json:"peeringStatus,omitempty"`
	UserID        *string                        `json:"userID,omitempty"`
	// VPCID or VPCRef (a VPC in the same namespace, its status.vpcID).
	VPCID                  *string                        `json:"vpcID,omitempty"`
	VPCPeeringConnectionID *string                        `json:"vpcPeeringConnectionID,omitempty"`
	VPCRef                 *ackv1alpha1.ResourceReference `json:"vpcRef,omitempty"`
}

// IPPermission is one ingress or egress permission, as EC2 groups them: a
// protocol and port range with its sources.
type IPPermission struct {
	FromPort         *int64             `json:"fromPort,omitempty"`
	IPProtocol       *string            `json:"ipProtocol,omitempty"`
	IPRanges         []*IPRange         `json:"ipRanges,omitempty"`
	IPv6Ranges       []*IPv6Range       `json:"ipv6Ranges,omitempty"`
	PrefixListIDs    []*PrefixListID    `json:"prefixListIDs,omitempty"`
	ToPort           *int64             `json:"toPort,omitempty"`
	UserIDGroupPairs []*UserIDGroupPair `json:"userIDGroupPairs,omitempty"`
}

// SecurityGroupSpec is the desired state of a SecurityGroup.
type SecurityGroupSpec struct {
	Description *string `json:"description,omitempty" ack:"required"`
	// EgressRules and IngressRules are the group's whole rule set: rules
	// missing in AWS are authorized, others revoked (AWS's default egress
	// rule too, as with ACK).
	EgressRules  []*IPPermission `json:"egressRules,omitempty"`
	IngressRules []*IPPermission `json:"ingressRules,omitempty"`
	// Name is the group name, unique in its VPC; it cannot change.
	Name *string `json:"name,omitempty" ack:"required"`
	Tags []*Tag  `json:"tags,omitempty"`
	// VPCID or VPCRef (a VPC in the same namespace, its status.vpcID).
	VPCID  *string                        `json:"vpcID,omitempty"`
	VPCRef *ackv1alpha1.ResourceReference `json:"vpcRef,omitempty"`
}

// SecurityGroupRule is one rule as DescribeSecurityGroupRules reports it.
type SecurityGroupRule struct {
	CIDRIPv4            *string `json:"cidrIPv4,omitempty"`
	CIDRIPv6            *string `json:"cidrIPv6,omitempty"`
	Description         *string `json:"description,omitempty"`
	FromPort            *int64  `json:"fromPort,omitempty"`
	IPProtocol          *string `json:"ipProtocol,omitempty"`
	IsEgress            *bool   `json:"isEgress,omitempty"`
	PrefixListID        *string `json:"prefixListID,omitempty"`
	SecurityGroupRuleID *string `json:"securityGroupRuleID,omitempty"`
	Tags                []*Tag  `json:"tags,omitempty"`
	ToPort              *int64  `json:"toPort,omitempty"`
}

// SecurityGroupStatus is the observed state of a SecurityGroup.
type SecurityGroupStatus struct {
	ackv1alpha1.ResourceStatus `json:",inline"`
	// ID is the group id (sg-…).
	ID    *string              `json:"id,omitempty"`
	Rules []*SecurityGroupRule `json:"rules,omitempty"`
}

// SecurityGroup is an EC2 security group.
type SecurityGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              SecurityGroupSpec   `json:"spec,omitempty"`
	Status            SecurityGroupStatus `json:"status,omitempty"`
}

// SecurityGroupList is a list of SecurityGroups.
type SecurityGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecurityGroup `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (g *SecurityGroup) DeepCopyObject() runtime.Object { return g.DeepCopy() }

// DeepCopy returns a deep copy.
func (g *SecurityGroup) DeepCopy() *SecurityGroup {
	if g == nil {
		return nil
	}
	out := &SecurityGroup{}
	deepCopy(g, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *SecurityGroupList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &SecurityGroupList{}
	deepCopy(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (g *SecurityGroup) ACKStatus() *ackv1alpha1.ResourceStatus { return &g.Status.ResourceStatus }
