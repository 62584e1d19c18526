package crdgen

import (
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	smv1alpha1 "github.com/trellis-dev/trellis/api/ack/secretsmanager/v1alpha1"
)

func init() {
	register(Kind{
		Group: smv1alpha1.GroupVersion.Group, Kind: "Secret", Plural: "secrets", Singular: "secret",
		Object: &smv1alpha1.Secret{},
		// ACK's Secret CRD has no printer columns; these are trellis's usual ones.
		PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
			{Name: "ARN", Type: "string", JSONPath: ".status.ackResourceMetadata.arn", Priority: 1},
			syncedColumn, ageColumn,
		},
	})
}
