package crdgen

import (
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	iamv1alpha1 "github.com/trellis-dev/trellis/api/ack/iam/v1alpha1"
)

func init() {
	arn := apiextv1.CustomResourceColumnDefinition{Name: "ARN", Type: "string", JSONPath: ".status.ackResourceMetadata.arn", Priority: 1}
	register(
		Kind{
			Group: iamv1alpha1.GroupVersion.Group, Kind: "Policy", Plural: "policies", Singular: "policy",
			Object:         &iamv1alpha1.Policy{},
			PrinterColumns: []apiextv1.CustomResourceColumnDefinition{arn, syncedColumn, ageColumn},
		},
		Kind{
			Group: iamv1alpha1.GroupVersion.Group, Kind: "Role", Plural: "roles", Singular: "role",
			Object:         &iamv1alpha1.Role{},
			PrinterColumns: []apiextv1.CustomResourceColumnDefinition{arn, syncedColumn, ageColumn},
		},
	)
}
