package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// VPCSpec is the desired state of a VPC.
type VPCSpec struct {
	// CIDRBlocks are the VPC's IPv4 blocks: the first is the primary block
	// given to CreateVpc, the others are associated after creation.
	CIDRBlocks         []*string `json:"cidrBlocks,omitempty" ack:"required"`
	EnableDNSHostnames *bool     `json:"enableDNSHostnames,omitempty"`
	EnableDNSSupport   *bool     `json:"enableDNSSupport,omitempty"`
	// InstanceTenancy is default or dedicated; it can only change to default.
	InstanceTenancy *string `json:"instanceTenancy,omitempty"`
	Tags            []*Tag  `json:"tags,omitempty"`

	AmazonProvidedIPv6CIDRBlock       any `json:"amazonProvidedIPv6CIDRBlock,omitempty" ack:"unimplemented=boolean"`
	DisallowSecurityGroupDefaultRules any `json:"disallowSecurityGroupDefaultRules,omitempty" ack:"unimplemented=boolean"`
	EnableNetworkAddressUsageMetrics  any `json:"enableNetworkAddressUsageMetrics,omitempty" ack:"unimplemented=boolean"`
	IPv4IPAMPoolID                    any `json:"ipv4IPAMPoolID,omitempty" ack:"unimplemented=string"`
	IPv4NetmaskLength                 any `json:"ipv4NetmaskLength,omitempty" ack:"unimplemented=integer"`
	IPv6CIDRBlock                     any `json:"ipv6CIDRBlock,omitempty" ack:"unimplemented=string"`
	IPv6CIDRBlockNetworkBorderGroup   any `json:"ipv6CIDRBlockNetworkBorderGroup,omitempty" ack:"unimplemented=string"`
	IPv6IPAMPoolID                    any `json:"ipv6IPAMPoolID,omitempty" ack:"unimplemented=string"`
	IPv6NetmaskLength                 any `json:"ipv6NetmaskLength,omitempty" ack:"unimplemented=integer"`
	IPv6Pool                          any `json:"ipv6Pool,omitempty" ack:"unimplemented=string"`
}

// CIDRBlockState is the state of a CIDR block association.
type CIDRBlockState struct {
	State         *string `json:"state,omitempty"`
	StatusMessage *string `json:"statusMessage,omitempty"`
}

// VPCCIDRBlockAssociation is one IPv4 block of the VPC.
type VPCCIDRBlockAssociation struct {
	AssociationID  *string         `json:"associationID,omitempty"`
	CIDRBlock      *string         `json:"cidrBlock,omitempty"`
	CIDRBlockState *CIDRBlockState `json:"cidrBlockState,omitempty"`
}

// VPCIPv6CIDRBlockAssociation is one IPv6 block of the VPC.
type VPCIPv6CIDRBlockAssociation struct {
	AssociationID      *string         `json:"associationID,omitempty"`
	IPv6CIDRBlock      *string         `json:"ipv6CIDRBlock,omitempty"`
	IPv6CIDRBlockState *CIDRBlockState `json:"ipv6CIDRBlockState,omitempty"`
	IPv6Pool           *string         `json:"ipv6Pool,omitempty"`
	NetworkBorderGroup *string         `json:"networkBorderGroup,omitempty"`
}

// VPCStatus is the observed state of a VPC.
type VPCStatus struct {
	ackv1alpha1.ResourceStatus     `json:",inline"`
	CIDRBlockAssociationSet        []*VPCCIDRBlockAssociation     `json:"cidrBlockAssociationSet,omitempty"`
	DHCPOptionsID                  *string                        `json:"dhcpOptionsID,omitempty"`
	IPv6CIDRBlockAssociationSet    []*VPCIPv6CIDRBlockAssociation `json:"ipv6CIDRBlockAssociationSet,omitempty"`
	IsDefault                      *bool                          `json:"isDefault,omitempty"`
	OwnerID                        *string                        `json:"ownerID,omitempty"`
	SecurityGroupDefaultRulesExist *bool                          `json:"securityGroupDefaultRulesExist,omitempty"`
	// State is pending or available.
	State *string `json:"state,omitempty"`
	// VPCID identifies the VPC once created: ACK's VPC has no name.
	VPCID *string `json:"vpcID,omitempty"`
}

// VPC is an EC2 virtual private cloud.
type VPC struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              VPCSpec   `json:"spec,omitempty"`
	Status            VPCStatus `json:"status,omitempty"`
}

// VPCList is a list of VPCs.
type VPCList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VPC `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (v *VPC) DeepCopyObject() runtime.Object { return v.DeepCopy() }

// DeepCopy returns a deep copy.
func (v *VPC) DeepCopy() *VPC {
	if v == nil {
		return nil
	}
	out := &VPC{}
	deepCopy(v, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *VPCList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &VPCList{}
	deepCopy(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (v *VPC) ACKStatus() *ackv1alpha1.ResourceStatus { return &v.Status.ResourceStatus }
