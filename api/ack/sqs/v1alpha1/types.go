// Package v1alpha1 is the sqs.services.k8s.aws/v1alpha1 API: the Queue kind,
// field-compatible with ACK's sqs-controller for the fields trellis
// implements. The other fields of ACK's Queue are declared too (tag
// ack:"unimplemented=<type>"), so the API server keeps them and the
// controller reports them as ACK.Terminal.
//
// As in ACK, every queue attribute is a string (e.g. delaySeconds: "30"),
// because that is how SQS carries them.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// GroupVersion is sqs.services.k8s.aws/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: "sqs.services.k8s.aws", Version: "v1alpha1"}

// AddToScheme registers Queue and QueueList.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Queue{}, &QueueList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// QueueSpec is the desired state of a Queue.
type QueueSpec struct {
	// QueueName is the queue's name (FIFO queues end in .fifo).
	QueueName *string `json:"queueName,omitempty" ack:"required,immutable"`

	ContentBasedDeduplication    *string `json:"contentBasedDeduplication,omitempty"`
	DeduplicationScope           *string `json:"deduplicationScope,omitempty"`
	DelaySeconds                 *string `json:"delaySeconds,omitempty"`
	FIFOQueue                    *string `json:"fifoQueue,omitempty"`
	FIFOThroughputLimit          *string `json:"fifoThroughputLimit,omitempty"`
	KMSDataKeyReusePeriodSeconds *string `json:"kmsDataKeyReusePeriodSeconds,omitempty"`
	KMSMasterKeyID               *string `json:"kmsMasterKeyID,omitempty"`
	MaximumMessageSize           *string `json:"maximumMessageSize,omitempty"`
	MessageRetentionPeriod       *string `json:"messageRetentionPeriod,omitempty"`
	// Policy is the queue's access policy, a JSON document.
	Policy *string `json:"policy,omitempty"`
	// PolicyRef takes the policy from an iam Policy's spec.policyDocument.
	PolicyRef                     *ackv1alpha1.ResourceReference `json:"policyRef,omitempty"`
	ReceiveMessageWaitTimeSeconds *string                        `json:"receiveMessageWaitTimeSeconds,omitempty"`
	RedriveAllowPolicy            *string                        `json:"redriveAllowPolicy,omitempty"`
	RedrivePolicy                 *string                        `json:"redrivePolicy,omitempty"`
	SQSManagedSSEEnabled          *string                        `json:"sqsManagedSSEEnabled,omitempty"`
	// Tags of the queue.
	Tags              map[string]string `json:"tags,omitempty"`
	VisibilityTimeout *string           `json:"visibilityTimeout,omitempty"`

	// Fields of ACK's Queue that trellis does not implement: kept by the
	// API server and reported as ACK.Terminal when set.
	KMSMasterKeyRef any `json:"kmsMasterKeyRef,omitempty" ack:"unimplemented=object"`
}

// QueueStatus is the observed state of a Queue.
type QueueStatus struct {
	ackv1alpha1.ResourceStatus `json:",inline"`
	// QueueURL is the URL SQS gave the queue.
	QueueURL *string `json:"queueURL,omitempty"`
	// QueueARN is the queue's ARN (the QueueArn attribute).
	QueueARN *string `json:"queueARN,omitempty"`
}

// Queue is an SQS queue.
type Queue struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              QueueSpec   `json:"spec,omitempty"`
	Status            QueueStatus `json:"status,omitempty"`
}

// QueueList is a list of Queues.
type QueueList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Queue `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (q *Queue) DeepCopyObject() runtime.Object { return q.DeepCopy() }

// DeepCopy returns a deep copy.
func (q *Queue) DeepCopy() *Queue {
	if q == nil {
		return nil
	}
	out := &Queue{}
	ackv1alpha1.DeepCopyJSON(q, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *QueueList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &QueueList{}
	ackv1alpha1.DeepCopyJSON(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (q *Queue) ACKStatus() *ackv1alpha1.ResourceStatus { return &q.Status.ResourceStatus }
