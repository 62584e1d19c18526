// Package v1alpha1 is the ec2.services.k8s.aws/v1alpha1 API: the VPC, Subnet
// and SecurityGroup kinds, field-compatible with ACK's ec2-controller for the
// fields trellis implements. The other fields of ACK's kinds are declared
// too (tag ack:"unimplemented=<type>"), so the API server keeps them and the
// controller reports them as ACK.Terminal.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// GroupVersion is ec2.services.k8s.aws/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: "ec2.services.k8s.aws", Version: "v1alpha1"}

// AddToScheme registers the kinds and their lists.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&VPC{}, &VPCList{},
		&Subnet{}, &SubnetList{},
		&SecurityGroup{}, &SecurityGroupList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Tag is one EC2 tag.
type Tag struct {
	Key   *string `json:"key,omitempty"`
	Value *string `json:"value,omitempty"`
}

// deepCopy copies in into out (both pointers to the same kind).
func deepCopy(in, out any) { ackv1alpha1.DeepCopyJSON(in, out) }
