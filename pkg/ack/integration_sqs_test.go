package ack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	sqsv1alpha1 "github.com/trellis-dev/trellis/api/ack/sqs/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	acksqs "github.com/trellis-dev/trellis/pkg/ack/sqs"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

func (f *ssFixture) queueAttrs(url string) map[string]string {
	out, err := f.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	return out.Attributes
}

func (f *ssFixture) queueTags(url string) map[string]string {
	out, err := f.sqs.ListQueueTags(context.Background(), &sqs.ListQueueTagsInput{QueueUrl: &url})
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	return out.Tags
}

// A Queue: attributes and tags on creation, status URL and ARN from SQS, a
// spec change, drift corrected, no writes while idle, a fifoQueue change
// refused, deletion.
func TestQueueLifecycle(t *testing.T) {
	f := startSecSQS(t, startOptions{awsProxy: true, edit: func(o *ack.Options) { o.Runtime.ResyncPeriod = 500 * time.Millisecond }})
	ctx := context.Background()
	dlq, err := f.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders-dlq")})
	if err != nil {
		t.Fatal(err)
	}
	dlqARN := f.queueAttrs(aws.ToString(dlq.QueueUrl))["QueueArn"]
	q := &sqsv1alpha1.Queue{}
	q.Name, q.Namespace = "orders", f.ns
	q.Spec = sqsv1alpha1.QueueSpec{
		QueueName: aws.String("orders"), DelaySeconds: aws.String("5"), VisibilityTimeout: aws.String("45"),
		FIFOQueue:     aws.String("false"),
		RedrivePolicy: aws.String(`{"deadLetterTargetArn":"` + dlqARN + `","maxReceiveCount":"3"}`),
		Policy: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},` +
			`"Action":["sqs:SendMessage"],"Resource":"*"}]}`),
		Tags: map[string]string{"team": "shop"},
	}
	if err := f.c.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	f.wait(q, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	u, err := f.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(u.QueueUrl)
	attrs := f.queueAttrs(url)
	md := q.Status.ACKResourceMetadata
	// moto builds queue URLs from the Host it was asked at (here the
	// counting proxy), so only the path is compared.
	if !strings.HasSuffix(aws.ToString(q.Status.QueueURL), "/"+acktest.MotoAccountID+"/orders") || aws.ToString(q.Status.QueueARN) != attrs["QueueArn"] ||
		md == nil || aws.ToString((*string)(md.ARN)) != attrs["QueueArn"] {
		t.Fatalf("status %+v, metadata %+v; SQS says %s %s", q.Status, md, url, attrs["QueueArn"])
	}
	if attrs["DelaySeconds"] != "5" || attrs["VisibilityTimeout"] != "45" || !strings.Contains(attrs["RedrivePolicy"], dlqARN) ||
		!strings.Contains(attrs["Policy"], "sqs:SendMessage") || f.queueTags(url)["team"] != "shop" {
		t.Fatalf("attributes %v tags %v", attrs, f.queueTags(url))
	}
	// SQS renders the documents its own way (maxReceiveCount a number):
	// that is no drift.
	f.idle("AmazonSQS.GetQueueAttributes")

	// A spec change reaches SQS.
	q.Spec.DelaySeconds = aws.String("10")
	q.Spec.Tags = map[string]string{"team": "shop", "tier": "1"}
	if err := f.c.Update(ctx, q); err != nil {
		t.Fatal(err)
	}
	f.eventually("delay 10 and two tags", func() (bool, string) {
		a, tags := f.queueAttrs(url), f.queueTags(url)
		return a["DelaySeconds"] == "10" && len(tags) == 2, fmt.Sprint(a["DelaySeconds"], tags)
	})

	// Drift behind trellis's back is corrected on resync.
	if _, err := f.sqs.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &url,
		Attributes: map[string]string{"VisibilityTimeout": "99", "Policy": ""}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sqs.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: &url, Tags: map[string]string{"extra": "x"}}); err != nil {
		t.Fatal(err)
	}
	f.eventually("drift corrected", func() (bool, string) {
		a, tags := f.queueAttrs(url), f.queueTags(url)
		return a["VisibilityTimeout"] == "45" && a["Policy"] != "" && len(tags) == 2 && tags["extra"] == "",
			fmt.Sprint(a["VisibilityTimeout"], " ", a["Policy"], " ", tags)
	})
	f.wait(q, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	f.idle("AmazonSQS.GetQueueAttributes")

	// SQS fixes the queue type at creation: a change is terminal.
	q.Spec.FIFOQueue = aws.String("true")
	if err := f.c.Update(ctx, q); err != nil {
		t.Fatal(err)
	}
	f.wait(q, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if msg := aws.ToString(q.Status.GetCondition(ackv1alpha1.ConditionTypeTerminal).Message); !strings.Contains(msg, "spec.fifoQueue") {
		t.Fatalf("terminal message %q", msg)
	}
	q.Spec.FIFOQueue = aws.String("false")
	if err := f.c.Update(ctx, q); err != nil {
		t.Fatal(err)
	}
	f.wait(q, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)

	if err := f.c.Delete(ctx, q); err != nil {
		t.Fatal(err)
	}
	f.gone(q)
	if _, err := f.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("orders")}); err == nil {
		t.Fatal("queue still in SQS")
	}
}

// Queue adoption by ACK's queueURL: read-only makes no writes and keeps
// the queue on delete; adopt takes the attributes into the spec.
func TestQueueAdoption(t *testing.T) {
	f := startSecSQS(t, startOptions{awsProxy: true})
	ctx := context.Background()
	cq, err := f.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("legacy"),
		Attributes: map[string]string{"DelaySeconds": "7"}, Tags: map[string]string{"owner": "ops"}})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(cq.QueueUrl)
	adopt := func(name string, ann map[string]string) *sqsv1alpha1.Queue {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(sqsv1alpha1.GroupVersion.WithKind("Queue"))
		u.SetName(name)
		u.SetNamespace(f.ns)
		u.SetAnnotations(ann)
		if err := f.c.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		q := &sqsv1alpha1.Queue{}
		q.Name, q.Namespace = name, f.ns
		f.wait(q, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
		return q
	}
	ro := adopt("observed", map[string]string{
		ackv1alpha1.AnnotationReadOnly: "true", ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: `{"queueURL":"` + url + `"}`,
	})
	if aws.ToString(ro.Status.QueueURL) != url || aws.ToString(ro.Status.QueueARN) == "" {
		t.Fatalf("status %+v", ro.Status)
	}
	if err := f.c.Delete(ctx, ro); err != nil {
		t.Fatal(err)
	}
	f.gone(ro)
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("read-only adoption wrote to AWS: %v", w)
	}
	if a := f.queueAttrs(url); a["DelaySeconds"] != "7" {
		t.Fatalf("queue after read-only delete: %v", a)
	}
	managed := adopt("managed", map[string]string{
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt", ackv1alpha1.AnnotationAdoptionFields: `{"queueURL":"` + url + `"}`,
	})
	if aws.ToString(managed.Spec.QueueName) != "legacy" || aws.ToString(managed.Spec.DelaySeconds) != "7" || managed.Spec.Tags["owner"] != "ops" {
		t.Fatalf("adopted spec %+v", managed.Spec)
	}
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("adoption wrote to AWS: %v", w)
	}
	managed.Spec.DelaySeconds = aws.String("8")
	if err := f.c.Update(ctx, managed); err != nil {
		t.Fatal(err)
	}
	f.eventually("delay 8", func() (bool, string) {
		a := f.queueAttrs(url)
		return a["DelaySeconds"] == "8", a["DelaySeconds"]
	})
}

// ensurePolicyCRD makes sure iam Policy objects can be created: by the iam
// service's CRD when trellis has it, else by a schemaless stand-in.
func (f *ssFixture) ensurePolicyCRD() {
	f.t.Helper()
	ctx := context.Background()
	s := runtime.NewScheme()
	_ = apiextv1.AddToScheme(s)
	c, err := client.New(testenv.Current(f.t).Config, client.Options{Scheme: s})
	if err != nil {
		f.t.Fatal(err)
	}
	crd := &apiextv1.CustomResourceDefinition{}
	crd.Name = "policies.iam.services.k8s.aws"
	crd.Spec = apiextv1.CustomResourceDefinitionSpec{
		Group: "iam.services.k8s.aws", Scope: apiextv1.NamespaceScoped,
		Names: apiextv1.CustomResourceDefinitionNames{Kind: "Policy", ListKind: "PolicyList", Plural: "policies", Singular: "policy"},
		Versions: []apiextv1.CustomResourceDefinitionVersion{{
			Name: "v1alpha1", Served: true, Storage: true,
			Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{
				Type: "object", XPreserveUnknownFields: aws.Bool(true)}},
			Subresources: &apiextv1.CustomResourceSubresources{Status: &apiextv1.CustomResourceSubresourceStatus{}},
		}},
	}
	if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
		f.t.Fatal(err)
	}
	f.eventually("iam Policy CRD established", func() (bool, string) {
		got := &apiextv1.CustomResourceDefinition{}
		if err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, got); err != nil {
			return false, err.Error()
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
				return true, ""
			}
		}
		return false, fmt.Sprint(got.Status.Conditions)
	})
}

// policyRef: the queue waits (nothing created) until the iam Policy is
// synced, then gets its document; the resolved policy is not written into
// the Queue's spec.
func TestQueuePolicyRef(t *testing.T) {
	f := startSecSQS(t, startOptions{})
	f.ensurePolicyCRD()
	ctx := context.Background()
	q := &sqsv1alpha1.Queue{}
	q.Name, q.Namespace = "with-policy", f.ns
	q.Spec = sqsv1alpha1.QueueSpec{QueueName: aws.String("with-policy"),
		PolicyRef: &ackv1alpha1.ResourceReference{From: &ackv1alpha1.NamespacedName{Name: aws.String("queue-policy")}}}
	if err := f.c.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	f.wait(q, ackv1alpha1.ConditionTypeReferencesResolved, corev1.ConditionUnknown)
	if _, err := f.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("with-policy")}); err == nil {
		t.Fatal("queue created before its policy was resolved")
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}`
	p := &unstructured.Unstructured{}
	p.SetGroupVersionKind(acksqs.IAMPolicyGVK)
	p.SetName("queue-policy")
	p.SetNamespace(f.ns)
	p.Object["spec"] = map[string]any{"name": "queue-policy-" + f.ns, "policyDocument": doc}
	if err := f.c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(ack.ServiceNames(), ","), "iam") {
		// No iam controller here: mark the stand-in synced by hand.
		p.Object["status"] = map[string]any{"conditions": []any{map[string]any{"type": "ACK.ResourceSynced", "status": "True"}}}
		if err := f.c.Status().Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	f.wait(q, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if c := q.Status.GetCondition(ackv1alpha1.ConditionTypeReferencesResolved); c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("references: %s", describe(&q.Status.ResourceStatus))
	}
	if got := f.queueAttrs(aws.ToString(q.Status.QueueURL))["Policy"]; !strings.Contains(got, "sqs:SendMessage") {
		t.Fatalf("policy %q", got)
	}
	if q.Spec.Policy != nil {
		t.Fatalf("resolved policy written into the spec: %q", *q.Spec.Policy)
	}
}
