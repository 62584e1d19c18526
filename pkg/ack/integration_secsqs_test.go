package ack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	smv1alpha1 "github.com/trellis-dev/trellis/api/ack/secretsmanager/v1alpha1"
	sqsv1alpha1 "github.com/trellis-dev/trellis/api/ack/sqs/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// ssFixture is a fixture on moto with clients for Secrets Manager and SQS
// (direct to moto, not through the controllers' counting proxy).
type ssFixture struct {
	*fixture
	c   client.Client // knows Secret and Queue
	sm  *secretsmanager.Client
	sqs *sqs.Client
}

func startSecSQS(t *testing.T, so startOptions) *ssFixture {
	t.Helper()
	so.moto = true
	f := &ssFixture{fixture: start(t, so)}
	s := scheme()
	_ = smv1alpha1.AddToScheme(s)
	_ = sqsv1alpha1.AddToScheme(s)
	var err error
	if f.c, err = client.New(testenv.Current(t).Config, client.Options{Scheme: s}); err != nil {
		t.Fatal(err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.sm = secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(f.moto.Endpoint) })
	f.sqs = sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(f.moto.Endpoint) })
	// Runs before the fixture's own cleanup, with the controllers running.
	t.Cleanup(func() {
		ctx := context.Background()
		_ = f.c.DeleteAllOf(ctx, &smv1alpha1.Secret{}, client.InNamespace(f.ns))
		_ = f.c.DeleteAllOf(ctx, &sqsv1alpha1.Queue{}, client.InNamespace(f.ns))
		f.eventually("secrets and queues deleted", func() (bool, string) {
			var sl smv1alpha1.SecretList
			var ql sqsv1alpha1.QueueList
			if err := f.c.List(ctx, &sl, client.InNamespace(f.ns)); err != nil {
				return false, err.Error()
			}
			if err := f.c.List(ctx, &ql, client.InNamespace(f.ns)); err != nil {
				return false, err.Error()
			}
			for _, o := range append(objs(sl.Items), objs(ql.Items)...) { // terminal ones
				if len(o.GetFinalizers()) > 0 {
					o.SetFinalizers(nil)
					_ = f.c.Update(ctx, o)
				}
			}
			return len(sl.Items)+len(ql.Items) == 0, fmt.Sprintf("%d secrets, %d queues", len(sl.Items), len(ql.Items))
		})
	})
	return f
}

func objs[T any, P interface {
	*T
	client.Object
}](items []T) []client.Object {
	var out []client.Object
	for i := range items {
		out = append(out, P(&items[i]))
	}
	return out
}

// wait waits for condition typ=want on a Secret or Queue.
func (f *ssFixture) wait(obj client.Object, typ ackv1alpha1.ConditionType, want corev1.ConditionStatus) {
	f.t.Helper()
	f.eventually(fmt.Sprintf("%s %s=%s", obj.GetName(), typ, want), func() (bool, string) {
		if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err.Error()
		}
		st := ackStatus(obj)
		c := st.GetCondition(typ)
		return c != nil && c.Status == want, describe(st)
	})
}

func ackStatus(obj client.Object) *ackv1alpha1.ResourceStatus {
	return obj.(interface {
		ACKStatus() *ackv1alpha1.ResourceStatus
	}).ACKStatus()
}

func (f *ssFixture) gone(obj client.Object) {
	f.t.Helper()
	f.eventually(obj.GetName()+" deleted", func() (bool, string) {
		err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// writes returns the controllers' AWS calls so far that are not reads.
func (f *ssFixture) writes() map[string]int {
	out := map[string]int{}
	for op, n := range f.proxy.Ops() {
		// Only the JSON protocols name the operation; the other request
		// here is the controllers' one STS GetCallerIdentity.
		if !strings.Contains(op, ".") {
			continue
		}
		name := op[strings.LastIndex(op, ".")+1:]
		switch {
		case strings.HasPrefix(name, "Get"), strings.HasPrefix(name, "Describe"), strings.HasPrefix(name, "List"):
		default:
			out[op] = n
		}
	}
	return out
}

// idle waits for three more calls of readOp (three resyncs) and checks that
// no write was made meanwhile.
func (f *ssFixture) idle(readOp string) {
	f.t.Helper()
	before, reads := f.writes(), f.proxy.Ops()[readOp]
	f.eventually("three resyncs", func() (bool, string) {
		n := f.proxy.Ops()[readOp]
		return n >= reads+3, fmt.Sprintf("%d %s calls", n-reads, readOp)
	})
	if after := f.writes(); fmt.Sprint(after) != fmt.Sprint(before) {
		f.t.Fatalf("AWS writes while synced and idle: before %v, after %v", before, after)
	}
}

func (f *ssFixture) kubeSecret(name, key, value string) *corev1.Secret {
	f.t.Helper()
	s := &corev1.Secret{}
	s.Name, s.Namespace = name, f.ns
	s.StringData = map[string]string{key: value}
	if err := f.c.Create(context.Background(), s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *ssFixture) secretValue(id string) string {
	out, err := f.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &id})
	if err != nil {
		return "error: " + err.Error()
	}
	return aws.ToString(out.SecretString)
}

func (f *ssFixture) currentVersion(id string) string {
	out, err := f.sm.DescribeSecret(context.Background(), &secretsmanager.DescribeSecretInput{SecretId: &id})
	if err != nil {
		return err.Error()
	}
	for v, stages := range out.VersionIdsToStages {
		for _, s := range stages {
			if s == "AWSCURRENT" {
				return v
			}
		}
	}
	return ""
}
