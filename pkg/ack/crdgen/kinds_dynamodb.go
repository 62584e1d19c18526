package crdgen

import (
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	dynamodbv1alpha1 "github.com/trellis-dev/trellis/api/ack/dynamodb/v1alpha1"
)

func init() {
	register(Kind{
		Group: dynamodbv1alpha1.GroupVersion.Group, Kind: "Table", Plural: "tables", Singular: "table",
		Object: &dynamodbv1alpha1.Table{},
		PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
			{Name: "ARN", Type: "string", JSONPath: ".status.ackResourceMetadata.arn", Priority: 1},
			{Name: "CLASS", Type: "string", JSONPath: ".spec.tableClass"},
			{Name: "STATUS", Type: "string", JSONPath: ".status.tableStatus"},
			syncedColumn, ageColumn,
		},
	})
}
