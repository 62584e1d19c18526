// Package v1alpha1 is the rds.services.k8s.aws/v1alpha1 API: the
// DBSubnetGroup and DBInstance kinds, field-compatible with ACK's
// rds-controller for the fields trellis implements. The other fields of
// ACK's kinds are declared too (tag ack:"unimplemented=<type>"), so the API
// server keeps them and the controller reports them as ACK.Terminal; fields
// ACK does not have are pruned, as with ACK's CRDs.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is rds.services.k8s.aws/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: "rds.services.k8s.aws", Version: "v1alpha1"}

// AddToScheme registers the rds kinds and their lists.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &DBSubnetGroup{}, &DBSubnetGroupList{}, &DBInstance{}, &DBInstanceList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Tag is one RDS tag.
type Tag struct {
	Key   *string `json:"key,omitempty"`
	Value *string `json:"value,omitempty"`
}

// AvailabilityZone names an availability zone.
type AvailabilityZone struct {
	Name *string `json:"name,omitempty"`
}

// Outpost is an AWS Outpost.
type Outpost struct {
	ARN *string `json:"arn,omitempty"`
}

// Subnet is one subnet of a DB subnet group, as RDS describes it.
type Subnet struct {
	SubnetAvailabilityZone *AvailabilityZone `json:"subnetAvailabilityZone,omitempty"`
	SubnetIdentifier       *string           `json:"subnetIdentifier,omitempty"`
	SubnetOutpost          *Outpost          `json:"subnetOutpost,omitempty"`
	SubnetStatus           *string           `json:"subnetStatus,omitempty"`
}
