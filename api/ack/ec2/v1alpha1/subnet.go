package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// SubnetSpec is the desired state of a Subnet.
type SubnetSpec struct {
	// AvailabilityZone and AvailabilityZoneID are used at creation only.
	AvailabilityZone    *string `json:"availabilityZone,omitempty"`
	AvailabilityZoneID  *string `json:"availabilityZoneID,omitempty"`
	CIDRBlock           *string `json:"cidrBlock,omitempty"`
	MapPublicIPOnLaunch *bool   `json:"mapPublicIPOnLaunch,omitempty"`
	Tags                []*Tag  `json:"tags,omitempty"`
	// VPCID or VPCRef (a VPC in the same namespace, its status.vpcID).
	VPCID  *string                        `json:"vpcID,omitempty"`
	VPCRef *ackv1alpha1.ResourceReference `json:"vpcRef,omitempty"`

	AssignIPv6AddressOnCreation     any `json:"assignIPv6AddressOnCreation,omitempty" ack:"unimplemented=boolean"`
	CustomerOwnedIPv4Pool           any `json:"customerOwnedIPv4Pool,omitempty" ack:"unimplemented=string"`
	EnableDNS64                     any `json:"enableDNS64,omitempty" ack:"unimplemented=boolean"`
	EnableResourceNameDNSAAAARecord any `json:"enableResourceNameDNSAAAARecord,omitempty" ack:"unimplemented=boolean"`
	EnableResourceNameDNSARecord    any `json:"enableResourceNameDNSARecord,omitempty" ack:"unimplemented=boolean"`
	HostnameType                    any `json:"hostnameType,omitempty" ack:"unimplemented=string"`
	IPv6CIDRBlock                   any `json:"ipv6CIDRBlock,omitempty" ack:"unimplemented=string"`
	IPv6Native                      any `json:"ipv6Native,omitempty" ack:"unimplemented=boolean"`
	OutpostARN                      any `json:"outpostARN,omitempty" ack:"unimplemented=string"`
	RouteTableRefs                  any `json:"routeTableRefs,omitempty" ack:"unimplemented=array"`
	RouteTables                     any `json:"routeTables,omitempty" ack:"unimplemented=strings"`
}

// SubnetIPv6CIDRBlockAssociation is one IPv6 block of the subnet.
type SubnetIPv6CIDRBlockAssociation struct {
	AssociationID      *string         `json:"associationID,omitempty"`
	IPv6CIDRBlock      *string         `json:"ipv6CIDRBlock,omitempty"`
	IPv6CIDRBlockState *CIDRBlockState `json:"ipv6CIDRBlockState,omitempty"`
}

// PrivateDNSNameOptionsOnLaunch are the subnet's DNS name options.
type PrivateDNSNameOptionsOnLaunch struct {
	EnableResourceNameDNSAAAARecord *bool   `json:"enableResourceNameDNSAAAARecord,omitempty"`
	EnableResourceNameDNSARecord    *bool   `json:"enableResourceNameDNSARecord,omitempty"`
	HostnameType                    *string `json:"hostnameType,omitempty"`
}

// SubnetStatus is the observed state of a Subnet.
type SubnetStatus struct {
	ackv1alpha1.ResourceStatus    `json:",inline"`
	AvailableIPAddressCount       *int64                            `json:"availableIPAddressCount,omitempty"`
	DefaultForAZ                  *bool                             `json:"defaultForAZ,omitempty"`
	EnableLniAtDeviceIndex        *int64                            `json:"enableLniAtDeviceIndex,omitempty"`
	IPv6CIDRBlockAssociationSet   []*SubnetIPv6CIDRBlockAssociation `json:"ipv6CIDRBlockAssociationSet,omitempty"`
	MapCustomerOwnedIPOnLaunch    *bool                             `json:"mapCustomerOwnedIPOnLaunch,omitempty"`
	OwnerID                       *string                           `json:"ownerID,omitempty"`
	PrivateDNSNameOptionsOnLaunch *PrivateDNSNameOptionsOnLaunch    `json:"privateDNSNameOptionsOnLaunch,omitempty"`
	// State is pending or available.
	State *string `json:"state,omitempty"`
	// SubnetID identifies the subnet once created.
	SubnetID *string `json:"subnetID,omitempty"`
}

// Subnet is an EC2 subnet of a VPC.
type Subnet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              SubnetSpec   `json:"spec,omitempty"`
	Status            SubnetStatus `json:"status,omitempty"`
}

// SubnetList is a list of Subnets.
type SubnetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Subnet `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (s *Subnet) DeepCopyObject() runtime.Object { return s.DeepCopy() }

// DeepCopy returns a deep copy.
func (s *Subnet) DeepCopy() *Subnet {
	if s == nil {
		return nil
	}
	out := &Subnet{}
	deepCopy(s, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *SubnetList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &SubnetList{}
	deepCopy(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (s *Subnet) ACKStatus() *ackv1alpha1.ResourceStatus { return &s.Status.ResourceStatus }
