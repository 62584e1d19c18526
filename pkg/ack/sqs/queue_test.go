package sqs

import (
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	v1 "github.com/trellis-dev/trellis/api/ack/sqs/v1alpha1"
)

func TestEqualDocs(t *testing.T) {
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["sqs:SendMessage"],"Resource":"*"}]}`
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{policy, policy, true},
		// SQS's own rendering: spaces, a lone Statement object, a lone Action.
		{policy, `{"Statement": {"Action": "sqs:SendMessage", "Resource": "*", "Principal": "*", "Effect": "Allow"}, "Version": "2012-10-17"}`, true},
		{`{"Statement":[{"Action":["a","b"]}]}`, `{"Statement":[{"Action":["b","a","a"]}]}`, true},
		{policy, `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}]}`, false},
		{`{"Statement":[{"Action":["a","b"]}]}`, `{"Statement":[{"Action":"a"}]}`, false},
		// Redrive policy: maxReceiveCount comes back as a number.
		{`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq","maxReceiveCount":"5"}`, `{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:dlq", "maxReceiveCount": 5}`, true},
		{`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq","maxReceiveCount":"5"}`, `{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:1:dlq","maxReceiveCount":6}`, false},
		{`{"Condition":{"Bool":{"aws:SecureTransport":"false"}}}`, `{"Condition":{"Bool":{"aws:SecureTransport":false}}}`, true},
		// Keys are not merged across objects.
		{`{"a":{"b":"1"}}`, `{"a":{"c":"1"}}`, false},
		{"", "", true},
		{"", " ", true},
		{policy, "", false},
		{"not json", "not json", true},
		{"not json", "other", false},
	} {
		if got := equalDocs(tc.a, tc.b); got != tc.want {
			t.Errorf("equalDocs(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestEqualValues(t *testing.T) {
	for _, tc := range []struct {
		k         valueKind
		want, got string
		eq        bool
	}{
		{kindNumber, "30", "30", true},
		{kindNumber, "030", "30", true},
		{kindNumber, " 30", "30", true},
		{kindNumber, "30", "31", false},
		{kindNumber, "30", "", false},
		{kindBool, "true", "true", true},
		{kindBool, "True", "true", true},
		{kindBool, "false", "", true}, // standard queues omit FifoQueue
		{kindBool, "true", "", false},
		{kindText, "queue", "queue", true},
		{kindText, "queue", "messageGroup", false},
		{kindJSON, "", "", true},
	} {
		if got := equalValues(tc.k, tc.want, tc.got); got != tc.eq {
			t.Errorf("equalValues(%v, %q, %q) = %v", tc.k, tc.want, tc.got, got)
		}
	}
}

func TestDelta(t *testing.T) {
	m := QueueManager{}
	desired := &v1.Queue{Spec: v1.QueueSpec{
		QueueName: aws.String("q"), DelaySeconds: aws.String("5"), VisibilityTimeout: aws.String("30"),
		FIFOQueue: aws.String("false"), Policy: aws.String(""), Tags: map[string]string{"a": "1"},
	}}
	latest := &v1.Queue{Spec: v1.QueueSpec{
		QueueName: aws.String("q"), DelaySeconds: aws.String("5"), VisibilityTimeout: aws.String("30"),
		MessageRetentionPeriod: aws.String("345600"), Tags: map[string]string{"a": "1"},
	}}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("no change expected, got %v", d)
	}
	latest.Spec.DelaySeconds = aws.String("0")
	latest.Spec.Policy = aws.String(`{"Statement":[]}`)
	latest.Spec.Tags = map[string]string{"a": "1", "b": "2"}
	want := []string{"spec.delaySeconds", "spec.policy", "spec.tags"}
	if d := m.Delta(desired, latest); !reflect.DeepEqual(d, want) {
		t.Fatalf("delta %v, want %v", d, want)
	}
	// Unset fields are not managed.
	desired.Spec = v1.QueueSpec{QueueName: aws.String("q")}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("unmanaged fields in the delta: %v", d)
	}
}

func TestDesiredAttributes(t *testing.T) {
	s := &v1.QueueSpec{
		QueueName: aws.String("q"), DelaySeconds: aws.String("5"), FIFOQueue: aws.String("false"),
		ContentBasedDeduplication: aws.String("False"), Policy: aws.String(""), RedrivePolicy: aws.String(`{"maxReceiveCount":"3"}`),
	}
	got := desiredAttributes(s, true)
	want := map[string]string{"DelaySeconds": "5", "RedrivePolicy": `{"maxReceiveCount":"3"}`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("create attributes %v, want %v", got, want)
	}
	// On update an empty policy is sent: it removes the policy.
	if got := desiredAttributes(s, false); got["Policy"] != "" || len(got) != 5 {
		t.Fatalf("update attributes %v", got)
	}
}

func TestAdoptionFieldsAndValidate(t *testing.T) {
	m := QueueManager{}
	q := &v1.Queue{}
	if err := m.AdoptionFields(q, map[string]string{"queueURL": "http://127.0.0.1:5000/123456789012/orders"}); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(q.Spec.QueueName) != "orders" || aws.ToString(q.Status.QueueURL) == "" {
		t.Fatalf("spec %+v status %+v", q.Spec, q.Status)
	}
	if err := m.Validate(q); err != nil {
		t.Fatal(err)
	}
	q.Spec.QueueName = aws.String("renamed")
	if err := m.Validate(q); err == nil {
		t.Fatal("a renamed queue passed validation")
	}
	if err := m.AdoptionFields(&v1.Queue{}, map[string]string{"arn": "x"}); err == nil {
		t.Fatal("adoption without queueURL accepted")
	}
	if err := m.Validate(&v1.Queue{}); err == nil {
		t.Fatal("no queueName accepted")
	}
}
