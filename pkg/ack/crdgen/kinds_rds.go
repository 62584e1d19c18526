package crdgen

import (
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	rdsv1alpha1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
)

func init() {
	register(
		Kind{
			Group: rdsv1alpha1.GroupVersion.Group, Kind: "DBSubnetGroup", Plural: "dbsubnetgroups", Singular: "dbsubnetgroup",
			Object: &rdsv1alpha1.DBSubnetGroup{},
			// ACK's DBSubnetGroup CRD has no printer columns.
			PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
				{Name: "STATUS", Type: "string", JSONPath: ".status.subnetGroupStatus"},
				syncedColumn, ageColumn,
			},
		},
		Kind{
			Group: rdsv1alpha1.GroupVersion.Group, Kind: "DBInstance", Plural: "dbinstances", Singular: "dbinstance",
			Object: &rdsv1alpha1.DBInstance{},
			PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
				// ACK's only column.
				{Name: "STATUS", Type: "string", JSONPath: ".status.dbInstanceStatus"},
			},
		},
	)
}
