package crdgen

import (
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	sqsv1alpha1 "github.com/trellis-dev/trellis/api/ack/sqs/v1alpha1"
)

func init() {
	register(Kind{
		Group: sqsv1alpha1.GroupVersion.Group, Kind: "Queue", Plural: "queues", Singular: "queue",
		Object: &sqsv1alpha1.Queue{},
		// ACK's columns.
		PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
			{Name: "DelaySeconds", Type: "string", JSONPath: ".spec.delaySeconds"},
			{Name: "maximumMessageSize", Type: "string", JSONPath: ".spec.maximumMessageSize", Priority: 1},
			{Name: "messageRetentionPeriod", Type: "string", JSONPath: ".spec.messageRetentionPeriod", Priority: 1},
			{Name: "receiveMessageWaitTimeSeconds", Type: "string", JSONPath: ".spec.receiveMessageWaitTimeSeconds", Priority: 1},
			{Name: "visibilityTimeout", Type: "string", JSONPath: ".spec.visibilityTimeout"},
			syncedColumn, ageColumn,
		},
	})
}
