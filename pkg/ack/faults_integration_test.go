package ack_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	dynamodbv1alpha1 "github.com/trellis-dev/trellis/api/ack/dynamodb/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
)

// faultWindow is how long the AWS faults last in TestTransientAWSFaults.
const faultWindow = 3 * time.Second

// callBound is the most AWS calls that resources may make in window while
// every call fails: per resource, reconciles under the controller's
// per-item exponential backoff (5 ms doubling, client-go's default) number
// at most ⌈log2(window/5ms)⌉+1, each making at most 3 attempts of its
// failing call (the SDK's standard retryer) plus one STS identity read.
// A retry storm (no backoff) makes hundreds per resource.
func callBound(resources int, window time.Duration) int {
	reconciles := int(math.Ceil(math.Log2(float64(window)/float64(5*time.Millisecond)))) + 1
	return resources * reconciles * (3 + 1)
}

// faultObjects are one resource of each wire protocol: a Bucket (S3,
// REST-XML), a Table (DynamoDB, JSON), a Role (IAM, query) and a
// SecurityGroup (EC2).
func faultObjects(t *testing.T, f *fixture, suffix, vpc string) []client.Object {
	t.Helper()
	tbl := &dynamodbv1alpha1.Table{}
	f.load("003-dynamodb-table-blog.yaml", tbl)
	tbl.Name = "faults-table-" + suffix
	tbl.Spec.TableName = aws.String("faults-table-" + suffix)
	obj := func(apiVersion, kind string, spec map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "spec": spec}}
		u.SetName("faults-" + strings.ToLower(kind) + "-" + suffix)
		u.SetNamespace(f.ns)
		return u
	}
	return []client.Object{
		obj("s3.services.k8s.aws/v1alpha1", "Bucket", map[string]any{"name": "faults-bucket-" + suffix}),
		tbl,
		obj("iam.services.k8s.aws/v1alpha1", "Role", map[string]any{"name": "faults-role-" + suffix,
			"assumeRolePolicyDocument": `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`}),
		obj("ec2.services.k8s.aws/v1alpha1", "SecurityGroup", map[string]any{"name": "faults-sg-" + suffix, "description": "faults", "vpcID": vpc}),
	}
}

func defaultVPC(t *testing.T, endpoint string) string {
	t.Helper()
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, err := ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(endpoint) }).DescribeVpcs(context.Background(),
		&ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("is-default"), Values: []string{"true"}}}})
	if err != nil || len(out.Vpcs) == 0 {
		t.Fatalf("moto's default VPC: %v", err)
	}
	return aws.ToString(out.Vpcs[0].VpcId)
}

// condition reads one ACK condition of obj (any kind) from the API server.
func (f *fixture) condition(obj client.Object, typ ackv1alpha1.ConditionType) corev1.ConditionStatus {
	gvk, err := f.c.GroupVersionKindFor(obj)
	if err != nil {
		f.t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), u); err != nil {
		return ""
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]any); m["type"] == string(typ) {
			s, _ := m["status"].(string)
			return corev1.ConditionStatus(s)
		}
	}
	return ""
}

// TestTransientAWSFaults: while every AWS call answers with throttling
// (each protocol's own error), 500, 503, a reset connection or a truncated
// answer, in turn, resources go ACK.Recoverable, never ACK.Terminal, the
// calls stay within callBound, and they sync once the faults stop. Then the
// same under 0.7 s of latency on every call.
func TestTransientAWSFaults(t *testing.T) {
	f := start(t, startOptions{moto: true, awsProxy: true})
	vpc := defaultVPC(t, f.moto.Endpoint)
	ctx := context.Background()
	objs := faultObjects(t, f, "errors", vpc)

	f.proxy.Inject(acktest.Fault{Cycle: []acktest.FaultKind{acktest.Throttle, acktest.InternalError, acktest.Unavailable, acktest.Reset, acktest.Truncate}})
	start := f.proxy.Count()
	began := time.Now()
	for _, o := range objs {
		if err := f.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	terminal := func() {
		t.Helper()
		for _, o := range objs {
			if f.condition(o, ackv1alpha1.ConditionTypeTerminal) == corev1.ConditionTrue {
				t.Fatalf("%s went Terminal on a transient fault", o.GetName())
			}
		}
	}
	for _, o := range objs {
		f.eventually(o.GetName()+" Recoverable", func() (bool, string) {
			terminal()
			s := f.condition(o, ackv1alpha1.ConditionTypeRecoverable)
			return s == corev1.ConditionTrue, string(s)
		})
	}
	for time.Since(began) < faultWindow {
		terminal()
		time.Sleep(200 * time.Millisecond)
	}
	f.proxy.Clear()
	window := time.Since(began)
	calls := f.proxy.Calls(start)
	faulted := 0
	kinds := map[acktest.FaultKind]int{}
	for _, c := range calls {
		if c.Fault != "" {
			faulted++
			kinds[c.Fault]++
		}
	}
	bound := callBound(len(objs), window)
	t.Logf("%d AWS calls in %s of faults (%v), bound %d", len(calls), window.Round(time.Millisecond), kinds, bound)
	if len(kinds) != 5 {
		t.Errorf("faults injected: %v, want all five kinds", kinds)
	}
	if len(calls) > bound {
		t.Errorf("%d AWS calls in %s of faults: more than the bound %d (a retry storm)", len(calls), window, bound)
	}
	for _, o := range objs {
		f.eventually(o.GetName()+" synced after the faults", func() (bool, string) {
			terminal()
			s := f.condition(o, ackv1alpha1.ConditionTypeResourceSynced)
			return s == corev1.ConditionTrue, string(s)
		})
		if s := f.condition(o, ackv1alpha1.ConditionTypeRecoverable); s == corev1.ConditionTrue {
			t.Errorf("%s still Recoverable=True after syncing", o.GetName())
		}
	}

	// Latency is no error: everything syncs through it.
	f.proxy.Inject(acktest.Fault{Kind: acktest.Latency, Delay: 700 * time.Millisecond})
	slow := faultObjects(t, f, "latency", vpc)
	for _, o := range slow {
		if err := f.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range slow {
		f.eventually(o.GetName()+" synced under latency", func() (bool, string) {
			if s := f.condition(o, ackv1alpha1.ConditionTypeTerminal); s == corev1.ConditionTrue {
				t.Fatalf("%s went Terminal under latency", o.GetName())
			}
			s := f.condition(o, ackv1alpha1.ConditionTypeResourceSynced)
			return s == corev1.ConditionTrue, string(s)
		})
	}
	f.proxy.Clear()
	for _, o := range append(objs, slow...) {
		if err := f.c.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range append(objs, slow...) {
		f.deleted(o)
	}
}

// deleted waits until obj (of any kind) is gone from the API server.
func (f *fixture) deleted(obj client.Object) {
	f.t.Helper()
	f.eventually(obj.GetName()+" deleted", func() (bool, string) {
		err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// TestTerminalRetried: a SecurityGroup whose description AWS refuses
// (InvalidParameterValue, answered by the proxy: moto accepts anything) is
// Terminal; it is tried again after the resync period, not only after a
// restart (ACK community#1844/#2098), and syncs once its spec changes to
// one AWS accepts.
func TestTerminalRetried(t *testing.T) {
	f := start(t, startOptions{moto: true, awsProxy: true, edit: func(o *ack.Options) { o.Runtime.ResyncPeriod = time.Second }})
	vpc := defaultVPC(t, f.moto.Endpoint)
	ctx := context.Background()
	f.proxy.Inject(acktest.Fault{Kind: acktest.Reject, Code: "InvalidParameterValue", Match: func(c acktest.Call) bool {
		return c.Op == "CreateSecurityGroup" && c.Form.Get("GroupDescription") == "refused"
	}})
	sg := faultObjects(t, f, "terminal", vpc)[3].(*unstructured.Unstructured)
	if err := unstructured.SetNestedField(sg.Object, "refused", "spec", "description"); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Create(ctx, sg); err != nil {
		t.Fatal(err)
	}
	f.eventually("Terminal", func() (bool, string) {
		s := f.condition(sg, ackv1alpha1.ConditionTypeTerminal)
		return s == corev1.ConditionTrue, string(s)
	})
	creates := f.proxy.CountOp("CreateSecurityGroup")
	f.eventually("tried again after the resync period", func() (bool, string) {
		n := f.proxy.CountOp("CreateSecurityGroup") - creates
		return n >= 2, fmt.Sprintf("%d more CreateSecurityGroup calls", n)
	})
	// Every retry adds the finalizer before CreateSecurityGroup and removes
	// it after the refusal (as ACK does, so the object never claims an AWS
	// resource it did not create): the spec is changed with a patch, as a
	// user's kubectl does, not with an update that races those writes.
	patch := []byte(`{"spec":{"description":"accepted"}}`)
	if err := f.c.Patch(ctx, sg, client.RawPatch(types.MergePatchType, patch)); err != nil {
		t.Fatal(err)
	}
	f.eventually("synced after the spec change", func() (bool, string) {
		s := f.condition(sg, ackv1alpha1.ConditionTypeResourceSynced)
		return s == corev1.ConditionTrue && f.condition(sg, ackv1alpha1.ConditionTypeTerminal) != corev1.ConditionTrue, string(s)
	})
	if err := f.c.Delete(ctx, sg); err != nil {
		t.Fatal(err)
	}
	f.deleted(sg)
}
