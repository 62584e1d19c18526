package crdgen

import (
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	ec2v1alpha1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
)

// ACK's ec2 CRDs have only the ID (and state) columns.
func init() {
	group := ec2v1alpha1.GroupVersion.Group
	register(
		Kind{
			Group: group, Kind: "VPC", Plural: "vpcs", Singular: "vpc",
			Object: &ec2v1alpha1.VPC{},
			PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
				{Name: "ID", Type: "string", JSONPath: ".status.vpcID"},
				{Name: "state", Type: "string", JSONPath: ".status.state"},
			},
		},
		Kind{
			Group: group, Kind: "Subnet", Plural: "subnets", Singular: "subnet",
			Object: &ec2v1alpha1.Subnet{},
			PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
				{Name: "ID", Type: "string", JSONPath: ".status.subnetID"},
				{Name: "state", Type: "string", JSONPath: ".status.state"},
			},
		},
		Kind{
			Group: group, Kind: "SecurityGroup", Plural: "securitygroups", Singular: "securitygroup",
			Object: &ec2v1alpha1.SecurityGroup{},
			PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
				{Name: "ID", Type: "string", JSONPath: ".status.id"},
			},
		},
	)
}
