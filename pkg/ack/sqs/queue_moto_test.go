package sqs

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/go-logr/logr"

	v1 "github.com/trellis-dev/trellis/api/ack/sqs/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func motoEnv(t *testing.T) ackrt.Env {
	t.Helper()
	acktest.SetMotoEnv(t, acktest.StartMoto(t))
	cfg := ackrt.Config{DefaultAccountID: "000000000000"}
	a, err := ackrt.LoadAWS(context.Background(), cfg, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return ackrt.Env{AWS: a.Config, Region: a.Region(), AccountID: acktest.MotoAccountID, Partition: "aws", Config: cfg}
}

// The AWS side against moto: create, read back with no delta (SQS's own
// rendering of numbers and documents is no drift), update, FIFO, delete.
func TestQueueOnMoto(t *testing.T) {
	env := motoEnv(t)
	ctx := context.Background()
	m := QueueManager{}
	cl := m.Classifier()
	desired := &v1.Queue{Spec: v1.QueueSpec{
		QueueName: aws.String("jobs"), DelaySeconds: aws.String("5"), MessageRetentionPeriod: aws.String("86400"),
		FIFOQueue: aws.String("false"), ContentBasedDeduplication: aws.String("false"),
		RedrivePolicy: aws.String(`{"deadLetterTargetArn":"arn:aws:sqs:us-east-1:123456789012:dlq","maxReceiveCount":"4"}`),
		Policy:        aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage","Resource":"*"}}`),
		Tags:          map[string]string{"a": "1", "b": "2"},
	}}
	if _, err := m.ReadOne(ctx, env, desired); !cl.IsNotFound(err) {
		t.Fatalf("ReadOne before create: want NotFound, got %v", err)
	}
	// moto checks that the redrive target exists.
	if _, err := m.Create(ctx, env, &v1.Queue{Spec: v1.QueueSpec{QueueName: aws.String("dlq")}}); err != nil {
		t.Fatal(err)
	}
	created, err := m.Create(ctx, env, desired)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.Status.QueueURL) == "" {
		t.Fatal("no queue URL")
	}
	latest, err := m.ReadOne(ctx, env, desired)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("delta after create: %v (latest %+v)", d, latest.Spec)
	}
	if aws.ToString(latest.Status.QueueARN) != "arn:aws:sqs:us-east-1:123456789012:jobs" {
		t.Fatalf("ARN %q", aws.ToString(latest.Status.QueueARN))
	}
	desired.Status = latest.Status
	desired.Spec.DelaySeconds = aws.String("0")
	desired.Spec.Policy = aws.String("")
	desired.Spec.Tags = map[string]string{"a": "1", "c": "3"}
	d := m.Delta(desired, latest)
	if want := []string{"spec.delaySeconds", "spec.policy", "spec.tags"}; !reflect.DeepEqual(d, want) {
		t.Fatalf("delta %v, want %v", d, want)
	}
	latest, err = m.Update(ctx, env, desired, latest, d)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("delta after update: %v (latest %+v)", d, latest.Spec)
	}
	if latest.Spec.Policy != nil || !reflect.DeepEqual(latest.Spec.Tags, map[string]string{"a": "1", "c": "3"}) {
		t.Fatalf("after update %+v", latest.Spec)
	}
	done, err := m.Delete(ctx, env, latest)
	if err != nil || !done {
		t.Fatalf("delete: %v %v", done, err)
	}
	if _, err := m.ReadOne(ctx, env, desired); !cl.IsNotFound(err) {
		t.Fatalf("ReadOne after delete: want NotFound, got %v", err)
	}

	fifo := &v1.Queue{Spec: v1.QueueSpec{QueueName: aws.String("jobs.fifo"), FIFOQueue: aws.String("true"), ContentBasedDeduplication: aws.String("true")}}
	if _, err := m.Create(ctx, env, fifo); err != nil {
		t.Fatal(err)
	}
	latest, err = m.ReadOne(ctx, env, fifo)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(fifo, latest); len(d) != 0 {
		t.Fatalf("fifo delta %v (latest %+v)", d, latest.Spec)
	}
	fifo.Spec.FIFOQueue = aws.String("false")
	if _, err := m.Update(ctx, env, fifo, latest, m.Delta(fifo, latest)); cl.Classify(err) != ackrt.ClassTerminal {
		t.Fatalf("changing fifoQueue: want terminal, got %v", err)
	}
}
