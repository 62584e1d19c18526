package ack_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	iamv1alpha1 "github.com/trellis-dev/trellis/api/ack/iam/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// The iam kinds against moto_server, with the controllers' IAM calls
// recorded by operation so tests can tell reads from writes.

// isWrite: every IAM operation that is not a Get or List changes something.
func isWrite(op string) bool {
	return !strings.HasPrefix(op, "Get") && !strings.HasPrefix(op, "List")
}

type iamFixture struct {
	*fixture
	moto *acktest.Server
	iam  *iam.Client
	ops  *acktest.Proxy
}

func iamScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = iamv1alpha1.AddToScheme(s)
	return s
}

// startIAM runs moto and the iam controllers (only them) against the test
// control plane; the controllers reach moto through the recording proxy.
func startIAM(t *testing.T, resync time.Duration) *iamFixture {
	t.Helper()
	env := testenv.Current(t)
	moto := acktest.StartMoto(t)
	acktest.SetMotoEnv(t, moto)
	ops := acktest.NewProxy(t, moto.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL", ops.Endpoint)

	opts := ack.DefaultOptions()
	opts.Services = "iam"
	opts.Runtime.NotSyncedRequeue = 200 * time.Millisecond
	if resync > 0 {
		opts.Runtime.ResyncPeriod = resync
	}
	runManager(t, iamScheme(), opts, nil)

	c, err := client.New(env.Config, client.Options{Scheme: iamScheme()})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f := &iamFixture{fixture: &fixture{t: t, c: c, ns: env.Namespace(t)}, moto: moto, ops: ops,
		iam: iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })}
	t.Cleanup(f.cleanupIAM)
	return f
}

// cleanupIAM deletes the test's Roles before its Policies, with the
// controllers still running; finalizers of objects they gave up on go.
func (f *iamFixture) cleanupIAM() {
	ctx := context.Background()
	for _, l := range []client.ObjectList{&iamv1alpha1.RoleList{}, &iamv1alpha1.PolicyList{}} {
		var obj client.Object = &iamv1alpha1.Role{}
		if _, ok := l.(*iamv1alpha1.PolicyList); ok {
			obj = &iamv1alpha1.Policy{}
		}
		_ = f.c.DeleteAllOf(ctx, obj, client.InNamespace(f.ns))
		f.eventually("iam objects deleted", func() (bool, string) {
			if err := f.c.List(ctx, l, client.InNamespace(f.ns)); err != nil {
				return false, err.Error()
			}
			items, _ := runtimeItems(l)
			for _, o := range items {
				if !o.GetDeletionTimestamp().IsZero() && f.terminal(o) {
					o.SetFinalizers(nil)
					_ = f.c.Update(ctx, o)
				}
			}
			return len(items) == 0, fmt.Sprintf("%d left", len(items))
		})
	}
}

func runtimeItems(l client.ObjectList) ([]client.Object, error) {
	var out []client.Object
	switch l := l.(type) {
	case *iamv1alpha1.RoleList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	case *iamv1alpha1.PolicyList:
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out, nil
}

type ackObject interface {
	client.Object
	ACKStatus() *ackv1alpha1.ResourceStatus
}

func (f *iamFixture) terminal(o client.Object) bool {
	c := o.(ackObject).ACKStatus().GetCondition(ackv1alpha1.ConditionTypeTerminal)
	return c != nil && c.Status == corev1.ConditionTrue
}

// waitFor waits until obj has condition typ with status want.
func (f *iamFixture) waitFor(obj ackObject, typ ackv1alpha1.ConditionType, want corev1.ConditionStatus) {
	f.t.Helper()
	f.eventually(fmt.Sprintf("%s %s=%s", obj.GetName(), typ, want), func() (bool, string) {
		if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err.Error()
		}
		c := obj.ACKStatus().GetCondition(typ)
		return c != nil && c.Status == want, describe(obj.ACKStatus())
	})
}

func (f *iamFixture) waitGoneIAM(obj ackObject) {
	f.t.Helper()
	f.eventually(obj.GetName()+" deleted", func() (bool, string) {
		err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if err != nil {
			return client.IgnoreNotFound(err) == nil, err.Error()
		}
		return false, fmt.Sprintf("finalizers %v, %s", obj.GetFinalizers(), describe(obj.ACKStatus()))
	})
}

func (f *iamFixture) attached(role string) []string {
	out, err := f.iam.ListAttachedRolePolicies(context.Background(), &iam.ListAttachedRolePoliciesInput{RoleName: &role})
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var arns []string
	for _, p := range out.AttachedPolicies {
		arns = append(arns, aws.ToString(p.PolicyArn))
	}
	sort.Strings(arns)
	return arns
}

func (f *iamFixture) roleExists(name string) bool {
	_, err := f.iam.GetRole(context.Background(), &iam.GetRoleInput{RoleName: &name})
	return err == nil
}

func (f *iamFixture) localPolicies() []string {
	out, err := f.iam.ListPolicies(context.Background(), &iam.ListPoliciesInput{Scope: iamtypes.PolicyScopeTypeLocal})
	if err != nil {
		f.t.Fatal(err)
	}
	var names []string
	for _, p := range out.Policies {
		names = append(names, aws.ToString(p.PolicyName))
	}
	return names
}

func newUnstructured(kind, name, ns string, spec map[string]any, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(iamv1alpha1.GroupVersion.WithKind(kind))
	u.SetName(name)
	u.SetNamespace(ns)
	if spec != nil {
		u.Object["spec"] = spec
	}
	if annotations != nil {
		u.SetAnnotations(annotations)
	}
	return u
}

// The s3bucket seed RGD's write Policy (its template as rendered for a
// bucket) and the podidentity seed's trust policy.
const (
	seedS3WritePolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": [
        "s3:GetObject",
        "s3:PutObject",
        "s3:PutObjectAcl",
        "s3:DeleteObject"
      ],
      "Resource": [
        "arn:aws:s3:::krmops-kro-s3-bucket-123456789012/*"
      ]
    },
    {
      "Effect": "Allow",
      "Action": [
        "s3:ListBucket",
        "s3:GetBucketLocation"
      ],
      "Resource": [
        "arn:aws:s3:::krmops-kro-s3-bucket-123456789012"
      ]
    }
  ]
}
`
	seedPodIdentityTrust = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "Service": "pods.eks.amazonaws.com"
      },
      "Action": [
        "sts:AssumeRole",
        "sts:TagSession"
      ]
    }
  ]
}
`
)

// The s3bucket seed's Policy and a Role attaching it through policyRefs:
// both sync with their AWS status; a synced pair makes no AWS writes while
// nothing changes; a detached policy and a deleted inline policy come back
// on the next resync; a new document becomes a new default version; the
// Role goes before the Policy it attaches, and moto is left empty.
func TestIAMPolicyAndRole(t *testing.T) {
	f := startIAM(t, time.Second)
	ctx := context.Background()

	pol := &iamv1alpha1.Policy{}
	pol.Name, pol.Namespace = "s3demo-s3-write-policy", f.ns
	pol.Spec.Name = aws.String("krmops-kro-s3-bucket-123456789012-s3-write-policy")
	pol.Spec.PolicyDocument = aws.String(seedS3WritePolicy)
	pol.Spec.Tags = []*iamv1alpha1.Tag{{Key: aws.String("app"), Value: aws.String("s3demo")}}
	if err := f.c.Create(ctx, pol); err != nil {
		t.Fatal(err)
	}
	// The Role references the Policy and waits for it.
	role := &iamv1alpha1.Role{}
	role.Name, role.Namespace = "s3demo-role", f.ns
	role.Spec.Name = aws.String("s3demo-role")
	role.Spec.AssumeRolePolicyDocument = aws.String(seedPodIdentityTrust)
	role.Spec.PolicyRefs = []*ackv1alpha1.ResourceReference{{From: &ackv1alpha1.NamespacedName{Name: aws.String(pol.Name)}}}
	role.Spec.InlinePolicies = map[string]*string{"logs": aws.String(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"logs:PutLogEvents","Resource":"*"}}`)}
	role.Spec.Tags = []*iamv1alpha1.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}
	role.Spec.MaxSessionDuration = aws.Int64(7200)
	if err := f.c.Create(ctx, role); err != nil {
		t.Fatal(err)
	}

	f.waitFor(pol, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	polARN := "arn:aws:iam::" + acktest.MotoAccountID + ":policy/" + *pol.Spec.Name
	st := pol.Status
	if md := st.ACKResourceMetadata; md == nil || aws.ToString((*string)(md.ARN)) != polARN ||
		aws.ToString((*string)(md.OwnerAccountID)) != acktest.MotoAccountID {
		t.Fatalf("metadata %+v", md)
	}
	if aws.ToString(st.DefaultVersionID) != "v1" || aws.ToString(st.PolicyID) == "" || st.CreateDate == nil || !aws.ToBool(st.IsAttachable) {
		t.Fatalf("status %+v", st)
	}
	if pol.Finalizers[0] != "finalizers.iam.services.k8s.aws/Policy" {
		t.Fatalf("finalizers %v", pol.Finalizers)
	}

	f.waitFor(role, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if c := role.Status.GetCondition(ackv1alpha1.ConditionTypeReferencesResolved); c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("references: %s", describe(&role.Status.ResourceStatus))
	}
	if got := aws.ToString((*string)(role.Status.ACKResourceMetadata.ARN)); got != "arn:aws:iam::"+acktest.MotoAccountID+":role/s3demo-role" ||
		aws.ToString(role.Status.RoleID) == "" || role.Status.CreateDate == nil {
		t.Fatalf("role status %+v", role.Status)
	}
	if len(role.Spec.Policies) != 0 {
		t.Fatalf("resolved ARNs written to the spec: %v", role.Spec.Policies)
	}
	if got := f.attached("s3demo-role"); fmt.Sprint(got) != fmt.Sprint([]string{polARN}) {
		t.Fatalf("attached %v", got)
	}
	f.eventually("attachment count in the Policy status", func() (bool, string) {
		_ = f.c.Get(ctx, client.ObjectKeyFromObject(pol), pol)
		return aws.ToInt64(pol.Status.AttachmentCount) == 1, fmt.Sprint(pol.Status.AttachmentCount)
	})

	// Synced and unchanged: resyncs every second read, and never write.
	m := f.ops.Count()
	f.eventually("three resyncs of each", func() (bool, string) {
		n := map[string]int{}
		for _, op := range f.ops.OpsSince(m) {
			n[op]++
		}
		return n["GetRole"] >= 3 && n["GetPolicy"] >= 3, fmt.Sprint(n)
	})
	for _, op := range f.ops.OpsSince(m) {
		if isWrite(op) {
			t.Fatalf("AWS write %s while nothing changed (calls %v)", op, f.ops.OpsSince(m))
		}
	}

	// Drift: detached and deleted behind trellis's back, restored.
	if _, err := f.iam.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("s3demo-role"), PolicyArn: &polARN}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.iam.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String("s3demo-role"), PolicyName: aws.String("logs")}); err != nil {
		t.Fatal(err)
	}
	f.eventually("policy re-attached and inline policy restored", func() (bool, string) {
		_, err := f.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("s3demo-role"), PolicyName: aws.String("logs")})
		got := f.attached("s3demo-role")
		return err == nil && len(got) == 1 && got[0] == polARN, fmt.Sprint(got, err)
	})

	// A new document: version v2, the default.
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(pol), pol); err != nil {
		t.Fatal(err)
	}
	pol.Spec.PolicyDocument = aws.String(strings.Replace(seedS3WritePolicy, `"s3:PutObjectAcl",`, "", 1))
	if err := f.c.Update(ctx, pol); err != nil {
		t.Fatal(err)
	}
	f.eventually("policy version v2", func() (bool, string) {
		_ = f.c.Get(ctx, client.ObjectKeyFromObject(pol), pol)
		return aws.ToString(pol.Status.DefaultVersionID) == "v2", fmt.Sprint(aws.ToString(pol.Status.DefaultVersionID))
	})
	v, err := f.iam.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: &polARN, VersionId: aws.String("v2")})
	if err != nil || !v.PolicyVersion.IsDefaultVersion || strings.Contains(aws.ToString(v.PolicyVersion.Document), "PutObjectAcl") {
		t.Fatalf("v2: %v %+v", err, v)
	}

	// Both deleted at once: the Policy waits (still attached) until the
	// Role, its policies detached first, is gone.
	if err := f.c.Delete(ctx, pol); err != nil {
		t.Fatal(err)
	}
	f.waitFor(pol, ackv1alpha1.ConditionTypeRecoverable, corev1.ConditionTrue)
	if msg := aws.ToString(pol.Status.GetCondition(ackv1alpha1.ConditionTypeRecoverable).Message); !strings.Contains(msg, "DeleteConflict") {
		t.Fatalf("recoverable message %q", msg)
	}
	if err := f.c.Delete(ctx, role); err != nil {
		t.Fatal(err)
	}
	f.waitGoneIAM(role)
	f.waitGoneIAM(pol)
	if f.roleExists("s3demo-role") {
		t.Fatal("role left in moto")
	}
	if left := f.localPolicies(); len(left) != 0 {
		t.Fatalf("policies left in moto: %v", left)
	}
}
