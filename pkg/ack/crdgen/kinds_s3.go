package crdgen

import (
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	s3v1alpha1 "github.com/trellis-dev/trellis/api/ack/s3/v1alpha1"
)

func init() {
	register(Kind{
		Group: s3v1alpha1.GroupVersion.Group, Kind: "Bucket", Plural: "buckets", Singular: "bucket",
		Object: &s3v1alpha1.Bucket{},
		PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
			{Name: "ARN", Type: "string", JSONPath: ".status.ackResourceMetadata.arn", Priority: 1},
			syncedColumn, ageColumn,
		},
	})
}
