package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// DBSubnetGroupSpec is the desired state of a DBSubnetGroup. Every field of
// ACK's DBSubnetGroup spec is implemented.
type DBSubnetGroupSpec struct {
	Description *string `json:"description,omitempty" ack:"required"`
	// Name of the subnet group; RDS stores it in lower case.
	Name       *string                          `json:"name,omitempty" ack:"required"`
	SubnetIDs  []*string                        `json:"subnetIDs,omitempty"`
	SubnetRefs []*ackv1alpha1.ResourceReference `json:"subnetRefs,omitempty"`
	Tags       []*Tag                           `json:"tags,omitempty"`
}

// DBSubnetGroupStatus is the observed state of a DBSubnetGroup.
type DBSubnetGroupStatus struct {
	ackv1alpha1.ResourceStatus `json:",inline"`
	SubnetGroupStatus          *string   `json:"subnetGroupStatus,omitempty"`
	Subnets                    []*Subnet `json:"subnets,omitempty"`
	SupportedNetworkTypes      []*string `json:"supportedNetworkTypes,omitempty"`
	VPCID                      *string   `json:"vpcID,omitempty"`
}

// DBSubnetGroup is an RDS DB subnet group.
type DBSubnetGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              DBSubnetGroupSpec   `json:"spec,omitempty"`
	Status            DBSubnetGroupStatus `json:"status,omitempty"`
}

// DBSubnetGroupList is a list of DBSubnetGroups.
type DBSubnetGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DBSubnetGroup `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (g *DBSubnetGroup) DeepCopyObject() runtime.Object { return g.DeepCopy() }

// DeepCopy returns a deep copy.
func (g *DBSubnetGroup) DeepCopy() *DBSubnetGroup {
	if g == nil {
		return nil
	}
	out := &DBSubnetGroup{}
	ackv1alpha1.DeepCopyJSON(g, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *DBSubnetGroupList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &DBSubnetGroupList{}
	ackv1alpha1.DeepCopyJSON(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (g *DBSubnetGroup) ACKStatus() *ackv1alpha1.ResourceStatus { return &g.Status.ResourceStatus }
