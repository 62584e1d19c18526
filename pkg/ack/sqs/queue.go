// Package sqs implements the ACK-compatible sqs.services.k8s.aws Queue.
//
// ReadOne is GetQueueUrl (unless the status has the URL), one
// GetQueueAttributes(All), and ListQueueTags only when the spec manages
// tags. Attributes travel as strings: numbers are compared as numbers,
// booleans without regard to case, and the JSON attributes (policy,
// redrivePolicy, redriveAllowPolicy) by meaning (jsondoc.go).
package sqs

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/trellis-dev/trellis/api/ack/sqs/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// QueueManager implements runtime.Manager for Queue.
type QueueManager struct{}

var (
	_ ackrt.Manager[*v1.Queue]            = QueueManager{}
	_ ackrt.ReferenceResolver[*v1.Queue]  = QueueManager{}
	_ ackrt.AdoptionReader[*v1.Queue]     = QueueManager{}
	_ ackrt.CreateStatusMerger[*v1.Queue] = QueueManager{}
)

// Service implements runtime.Manager.
func (QueueManager) Service() string { return "sqs" }

// Kind implements runtime.Manager.
func (QueueManager) Kind() string { return "Queue" }

// New implements runtime.Manager.
func (QueueManager) New() *v1.Queue { return &v1.Queue{} }

// Classifier implements runtime.Manager. The SDK reports a missing queue as
// AWS.SimpleQueueService.NonExistentQueue when the server sends the
// x-amzn-query-error header (AWS and moto do), else as QueueDoesNotExist.
func (QueueManager) Classifier() ackrt.Classifier {
	return ackrt.Classifier{
		NotFoundCodes: []string{"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"},
		TerminalCodes: []string{"InvalidAttributeName", "InvalidAttributeValue", "InvalidParameterValue", "InvalidParameterCombination"},
	}
}

func client(env ackrt.Env) *sqs.Client { return sqs.NewFromConfig(env.AWS) }

// valueKind says how an attribute's string is compared.
type valueKind int

const (
	kindNumber valueKind = iota
	kindBool
	kindText
	kindJSON
)

// attribute maps a spec field to its SQS attribute.
type attribute struct {
	path  string // spec path, e.g. spec.delaySeconds
	name  string // SQS attribute name
	kind  valueKind
	field func(*v1.QueueSpec) **string
}

// attributes are every queue attribute ACK's Queue exposes, in spec order.
var attributes = []attribute{
	{"spec.contentBasedDeduplication", "ContentBasedDeduplication", kindBool, func(s *v1.QueueSpec) **string { return &s.ContentBasedDeduplication }},
	{"spec.deduplicationScope", "DeduplicationScope", kindText, func(s *v1.QueueSpec) **string { return &s.DeduplicationScope }},
	{"spec.delaySeconds", "DelaySeconds", kindNumber, func(s *v1.QueueSpec) **string { return &s.DelaySeconds }},
	{"spec.fifoQueue", "FifoQueue", kindBool, func(s *v1.QueueSpec) **string { return &s.FIFOQueue }},
	{"spec.fifoThroughputLimit", "FifoThroughputLimit", kindText, func(s *v1.QueueSpec) **string { return &s.FIFOThroughputLimit }},
	{"spec.kmsDataKeyReusePeriodSeconds", "KmsDataKeyReusePeriodSeconds", kindNumber, func(s *v1.QueueSpec) **string { return &s.KMSDataKeyReusePeriodSeconds }},
	{"spec.kmsMasterKeyID", "KmsMasterKeyId", kindText, func(s *v1.QueueSpec) **string { return &s.KMSMasterKeyID }},
	{"spec.maximumMessageSize", "MaximumMessageSize", kindNumber, func(s *v1.QueueSpec) **string { return &s.MaximumMessageSize }},
	{"spec.messageRetentionPeriod", "MessageRetentionPeriod", kindNumber, func(s *v1.QueueSpec) **string { return &s.MessageRetentionPeriod }},
	{"spec.policy", "Policy", kindJSON, func(s *v1.QueueSpec) **string { return &s.Policy }},
	{"spec.receiveMessageWaitTimeSeconds", "ReceiveMessageWaitTimeSeconds", kindNumber, func(s *v1.QueueSpec) **string { return &s.ReceiveMessageWaitTimeSeconds }},
	{"spec.redriveAllowPolicy", "RedriveAllowPolicy", kindJSON, func(s *v1.QueueSpec) **string { return &s.RedriveAllowPolicy }},
	{"spec.redrivePolicy", "RedrivePolicy", kindJSON, func(s *v1.QueueSpec) **string { return &s.RedrivePolicy }},
	{"spec.sqsManagedSSEEnabled", "SqsManagedSseEnabled", kindBool, func(s *v1.QueueSpec) **string { return &s.SQSManagedSSEEnabled }},
	{"spec.visibilityTimeout", "VisibilityTimeout", kindNumber, func(s *v1.QueueSpec) **string { return &s.VisibilityTimeout }},
}

// equalValues compares a desired attribute with the observed one ("" when
// SQS does not report it).
func equalValues(k valueKind, want, got string) bool {
	want, got = strings.TrimSpace(want), strings.TrimSpace(got)
	switch k {
	case kindNumber:
		a, errA := strconv.ParseInt(want, 10, 64)
		b, errB := strconv.ParseInt(got, 10, 64)
		if errA == nil && errB == nil {
			return a == b
		}
	case kindBool:
		// SQS leaves FifoQueue and ContentBasedDeduplication out on
		// standard queues: absent is false.
		norm := func(s string) string {
			if s == "" {
				return "false"
			}
			return strings.ToLower(s)
		}
		return norm(want) == norm(got)
	case kindJSON:
		return equalDocs(want, got)
	}
	return want == got
}

// IAMPolicyGVK is the kind policyRef points to.
var IAMPolicyGVK = schema.GroupVersionKind{Group: "iam.services.k8s.aws", Version: "v1alpha1", Kind: "Policy"}

// ResolveReferences implements runtime.ReferenceResolver: policyRef gives
// the policy document of an iam Policy in the same namespace.
func (QueueManager) ResolveReferences(ctx context.Context, refs *ackrt.Refs, q *v1.Queue) error {
	if q.Spec.PolicyRef == nil {
		return nil
	}
	if err := ackrt.Exclusive("policy", q.Spec.Policy != nil, "policyRef", true); err != nil {
		return err
	}
	doc, err := refs.Resolve(ctx, "policyRef", q.Spec.PolicyRef, IAMPolicyGVK, "spec", "policyDocument")
	if err != nil {
		return err
	}
	q.Spec.Policy = &doc
	return nil
}

// ClearResolvedReferences implements runtime.ReferenceResolver.
func (QueueManager) ClearResolvedReferences(q *v1.Queue) {
	if q.Spec.PolicyRef != nil {
		q.Spec.Policy = nil
	}
}

// AdoptionFields implements runtime.Manager: ACK's {"queueURL": "..."}, or
// (a trellis convenience) {"queueName": "..."}.
func (QueueManager) AdoptionFields(q *v1.Queue, fields map[string]string) error {
	if u := fields["queueURL"]; u != "" {
		name := u[strings.LastIndex(u, "/")+1:]
		if name == "" {
			return errors.New(`"queueURL" has no queue name`)
		}
		q.Spec.QueueName, q.Status.QueueURL = &name, &u
		return nil
	}
	if n := fields["queueName"]; n != "" {
		q.Spec.QueueName = &n
		return nil
	}
	return errors.New(`"queueURL" is required`)
}

// Validate implements runtime.Manager. queueName cannot change once the
// queue exists (ACK's CRD has a CEL rule; this guards objects that bypass it).
func (QueueManager) Validate(q *v1.Queue) error {
	name := aws.ToString(q.Spec.QueueName)
	if name == "" {
		return ackrt.Terminal("spec.queueName is required")
	}
	if u := aws.ToString(q.Status.QueueURL); u != "" && !strings.HasSuffix(u, "/"+name) {
		return ackrt.Terminal("spec.queueName is immutable: this resource manages %s", u)
	}
	return nil
}

// ARN implements runtime.Manager: the QueueArn attribute.
func (QueueManager) ARN(_ ackrt.Env, q *v1.Queue) string { return aws.ToString(q.Status.QueueARN) }

// ReadOne implements runtime.Manager. Every attribute comes back in one
// call, so the observed spec holds all of them; tags only when managed.
func (m QueueManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.Queue) (*v1.Queue, error) {
	return m.read(ctx, env, desired, desired.Spec.Tags != nil)
}

func (QueueManager) read(ctx context.Context, env ackrt.Env, desired *v1.Queue, tags bool) (*v1.Queue, error) {
	c := client(env)
	url := aws.ToString(desired.Status.QueueURL)
	if url == "" {
		out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: desired.Spec.QueueName})
		if err != nil {
			return nil, err
		}
		url = aws.ToString(out.QueueUrl)
	}
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll},
	})
	if err != nil {
		return nil, err
	}
	latest := desired.DeepCopy()
	latest.Spec = v1.QueueSpec{QueueName: desired.Spec.QueueName, PolicyRef: desired.Spec.PolicyRef}
	for _, a := range attributes {
		if v, ok := out.Attributes[a.name]; ok {
			*a.field(&latest.Spec) = aws.String(v)
		}
	}
	latest.Status.QueueURL = &url
	if arn, ok := out.Attributes["QueueArn"]; ok {
		latest.Status.QueueARN = aws.String(arn)
	}
	if tags {
		t, err := c.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: &url})
		if err != nil {
			return nil, err
		}
		latest.Spec.Tags = map[string]string{}
		for k, v := range t.Tags {
			latest.Spec.Tags[k] = v
		}
	}
	return latest, nil
}

// ReadForAdoption implements runtime.AdoptionReader: the tags too, and only
// what the queue has (empty tags are left out).
func (m QueueManager) ReadForAdoption(ctx context.Context, env ackrt.Env, desired *v1.Queue) (*v1.Queue, error) {
	latest, err := m.read(ctx, env, desired, true)
	if err != nil {
		return nil, err
	}
	if len(latest.Spec.Tags) == 0 {
		latest.Spec.Tags = nil
	}
	return latest, nil
}

// desiredAttributes returns the attributes the spec sets. An empty JSON
// attribute is left out at creation (it means "none").
func desiredAttributes(s *v1.QueueSpec, forCreate bool) map[string]string {
	out := map[string]string{}
	for _, a := range attributes {
		p := *a.field(s)
		if p == nil || (forCreate && a.kind == kindJSON && strings.TrimSpace(*p) == "") {
			continue
		}
		// Standard queues do not know the FIFO-only attributes at all:
		// false is their absence.
		if forCreate && fifoOnly(a.name) && equalValues(kindBool, *p, "false") {
			continue
		}
		out[a.name] = *p
	}
	return out
}

func fifoOnly(name string) bool { return name == "FifoQueue" || name == "ContentBasedDeduplication" }

// Create implements runtime.Manager: CreateQueue with the attributes and
// tags of the spec.
func (QueueManager) Create(ctx context.Context, env ackrt.Env, desired *v1.Queue) (*v1.Queue, error) {
	in := &sqs.CreateQueueInput{QueueName: desired.Spec.QueueName, Attributes: desiredAttributes(&desired.Spec, true)}
	if len(desired.Spec.Tags) > 0 {
		in.Tags = desired.Spec.Tags
	}
	out, err := client(env).CreateQueue(ctx, in)
	if err != nil {
		return nil, err
	}
	created := desired.DeepCopy()
	created.Status.QueueURL = out.QueueUrl
	return created, nil
}

// MergeCreateStatus implements runtime.CreateStatusMerger: nothing beyond
// what ReadOne observes, but the URL is kept if the read was cut short.
func (QueueManager) MergeCreateStatus(created, latest *v1.Queue) {
	if latest.Status.QueueURL == nil {
		latest.Status.QueueURL = created.Status.QueueURL
	}
}

// Delta implements runtime.Manager.
func (QueueManager) Delta(desired, latest *v1.Queue) []string {
	var d []string
	for _, a := range attributes {
		want := *a.field(&desired.Spec)
		if want == nil {
			continue
		}
		if !equalValues(a.kind, *want, aws.ToString(*a.field(&latest.Spec))) {
			d = append(d, a.path)
		}
	}
	if desired.Spec.Tags != nil && !equalTags(desired.Spec.Tags, latest.Spec.Tags) {
		d = append(d, "spec.tags")
	}
	return d
}

func equalTags(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Update implements runtime.Manager: one SetQueueAttributes with every
// changed attribute, then TagQueue/UntagQueue for the tags.
func (m QueueManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.Queue, delta []string) (*v1.Queue, error) {
	c := client(env)
	url := latest.Status.QueueURL
	set := map[string]string{}
	tags := false
	for _, path := range delta {
		if path == "spec.tags" {
			tags = true
			continue
		}
		for _, a := range attributes {
			if a.path != path {
				continue
			}
			// SQS decides the queue type at creation only.
			if a.name == "FifoQueue" {
				return nil, ackrt.Terminal("spec.fifoQueue cannot change once the queue exists (it is %q)", aws.ToString(latest.Spec.FIFOQueue))
			}
			set[a.name] = aws.ToString(*a.field(&desired.Spec))
		}
	}
	if len(set) > 0 {
		if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: url, Attributes: set}); err != nil {
			return nil, err
		}
	}
	if tags {
		var remove []string
		for k := range latest.Spec.Tags {
			if _, ok := desired.Spec.Tags[k]; !ok {
				remove = append(remove, k)
			}
		}
		sort.Strings(remove)
		if len(remove) > 0 {
			if _, err := c.UntagQueue(ctx, &sqs.UntagQueueInput{QueueUrl: url, TagKeys: remove}); err != nil {
				return nil, err
			}
		}
		add := map[string]string{}
		for k, v := range desired.Spec.Tags {
			if w, ok := latest.Spec.Tags[k]; !ok || w != v {
				add[k] = v
			}
		}
		if len(add) > 0 {
			if _, err := c.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: url, Tags: add}); err != nil {
				return nil, err
			}
		}
	}
	return m.ReadOne(ctx, env, desired)
}

// Delete implements runtime.Manager. (In AWS a queue of the same name
// cannot be created for 60 s after: QueueDeletedRecently, retried.)
func (QueueManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.Queue) (bool, error) {
	_, err := client(env).DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: latest.Status.QueueURL})
	return err == nil, err
}

// IsSynced implements runtime.Manager: a queue that exists is synced.
func (QueueManager) IsSynced(*v1.Queue) (bool, string, error) { return true, "", nil }

// LateInitialize implements runtime.Manager: nothing (as in ACK's Queue).
func (QueueManager) LateInitialize(_, _ *v1.Queue) bool { return false }
