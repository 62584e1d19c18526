package iam

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"
	"github.com/go-logr/logr"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/iam/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func TestSplitARN(t *testing.T) {
	for _, c := range []struct{ arn, path, name string }{
		{"arn:aws:iam::123456789012:role/app", "/", "app"},
		{"arn:aws:iam::123456789012:role/team/x/app", "/team/x/", "app"},
		{"arn:aws:iam::aws:policy/service-role/AmazonEKSPolicy", "/service-role/", "AmazonEKSPolicy"},
		{"nonsense", "", ""},
	} {
		if p, n := splitARN(c.arn); p != c.path || n != c.name {
			t.Errorf("%s: %q %q", c.arn, p, n)
		}
	}
}

func ownedRole(name, arn string) *v1.Role {
	r := &v1.Role{}
	r.Spec.Name = aws.String(name)
	r.Finalizers = []string{"finalizers.iam.services.k8s.aws/Role"}
	a := ackv1alpha1.ARN(arn)
	r.Status.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{ARN: &a}
	return r
}

// The status ARN names the role only for a CR that owns it (community#2102).
func TestRoleIdentity(t *testing.T) {
	m := RoleManager{}
	r := ownedRole("new-name", "arn:aws:iam::123456789012:role/old-name")
	if n := roleName(r); n != "old-name" {
		t.Fatalf("owned: role name %q", n)
	}
	err := m.Validate(r)
	if te, ok := err.(*ackrt.TerminalError); !ok || te.Msg == "" {
		t.Fatalf("rename of an owned role: %v", err)
	}
	// Unowned (e.g. it met "Resource already exists"): the spec decides and
	// a rename is fine; the ARN is not shown.
	r.Finalizers = nil
	if n := roleName(r); n != "new-name" || m.Validate(r) != nil || m.ARN(ackrt.Env{}, r) != "" {
		t.Fatalf("unowned: name %q, validate %v, ARN %q", n, m.Validate(r), m.ARN(ackrt.Env{}, r))
	}
	// Adopting: owned through the annotation.
	r.Annotations = map[string]string{ackv1alpha1.AnnotationAdoptionPolicy: "adopt"}
	if roleName(r) != "old-name" {
		t.Fatal("adopting CR does not use its ARN")
	}
	// A path change of an owned role is refused too.
	r = ownedRole("app", "arn:aws:iam::123456789012:role/team/app")
	r.Spec.Path = aws.String("/other/")
	if m.Validate(r) == nil {
		t.Fatal("path change accepted")
	}
	r.Spec.Path = aws.String("/team/")
	r.Spec.Policies = []*string{aws.String("")}
	if m.Validate(r) == nil {
		t.Fatal("empty policy ARN accepted")
	}
}

func TestRoleDelta(t *testing.T) {
	m := RoleManager{}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`
	desired := &v1.Role{Spec: v1.RoleSpec{
		Name: aws.String("r"), AssumeRolePolicyDocument: aws.String(trust),
		Policies:       []*string{aws.String("arn:a"), aws.String("arn:b")},
		InlinePolicies: map[string]*string{"p": aws.String(`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`)},
		Tags:           []*v1.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	}}
	latest := &v1.Role{Spec: v1.RoleSpec{
		Name: aws.String("r"), Path: aws.String("/"), Description: aws.String("set elsewhere"), MaxSessionDuration: aws.Int64(3600),
		AssumeRolePolicyDocument: aws.String(`%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22pods.eks.amazonaws.com%22%7D%2C%22Action%22%3A%5B%22sts%3ATagSession%22%2C%22sts%3AAssumeRole%22%5D%7D%7D`),
		Policies:                 []*string{aws.String("arn:b"), aws.String("arn:a")},
		InlinePolicies:           map[string]*string{"p": aws.String(`{"Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["*"]}]}`)},
		Tags:                     []*v1.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	}}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("same meaning, delta %v", d)
	}
	changed := latest.DeepCopy()
	changed.Spec.Policies = changed.Spec.Policies[:1]
	changed.Spec.InlinePolicies["q"] = aws.String("{}")
	changed.Spec.Tags = nil
	changed.Spec.PermissionsBoundary = aws.String("arn:pb")
	want := "[spec.permissionsBoundary spec.policies spec.inlinePolicies spec.tags]"
	if d := m.Delta(desired, changed); fmt.Sprint(d) != want {
		t.Fatalf("delta %v, want %s", d, want)
	}
	desired.Spec.Description, desired.Spec.MaxSessionDuration = aws.String("mine"), aws.Int64(7200)
	if d := m.Delta(desired, latest); fmt.Sprint(d) != "[spec.description spec.maxSessionDuration]" {
		t.Fatalf("delta %v", d)
	}
}

func TestTagChanges(t *testing.T) {
	remove, add := tagChanges(map[string]string{"a": "1", "b": "2"}, map[string]string{"a": "0", "c": "3"})
	if fmt.Sprint(remove) != "[c]" || len(add) != 2 || *add[0].Key != "a" || *add[0].Value != "1" || *add[1].Key != "b" {
		t.Fatalf("remove %v add %v", remove, add)
	}
}

func TestPartErr(t *testing.T) {
	nse := &smithy.GenericAPIError{Code: "NoSuchEntity", Message: "Policy x not found"}
	err := partErr("AttachRolePolicy x", nse)
	if classifier().IsNotFound(err) || ackrt.AWSErrorCode(err) != "" {
		t.Fatalf("a missing part looks like a missing resource: %v", err)
	}
	if c := classifier().Classify(partErr("PutRolePolicy p", &smithy.GenericAPIError{Code: "MalformedPolicyDocument"})); c != ackrt.ClassTerminal {
		t.Fatalf("class %v", c)
	}
}

// Against moto: what the managers do on the server.

func testEnv(t *testing.T) (ackrt.Env, *iam.Client) {
	t.Helper()
	moto := acktest.StartMoto(t)
	acktest.SetMotoEnv(t, moto)
	cfg := ackrt.Config{DefaultAccountID: "000000000000"}
	a, err := ackrt.LoadAWS(context.Background(), cfg, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	env := ackrt.Env{AWS: a.Config, Region: a.Region(), AccountID: acktest.MotoAccountID, Partition: "aws", Config: cfg}
	return env, iam.NewFromConfig(a.Config)
}

func doc(action string) *string {
	return aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"` + action + `","Resource":"*"}]}`)
}

// A changed document becomes the new default version; past five, the
// oldest non-default version goes. Deleting removes the versions first.
func TestPolicyVersions(t *testing.T) {
	env, c := testEnv(t)
	ctx := context.Background()
	m := PolicyManager{}
	desired := &v1.Policy{Spec: v1.PolicySpec{Name: aws.String("versions"), PolicyDocument: doc("s3:GetObject")}}
	if _, err := m.ReadOne(ctx, env, desired); !m.Classifier().IsNotFound(err) {
		t.Fatalf("before create: %v", err)
	}
	if _, err := m.Create(ctx, env, desired); err != nil {
		t.Fatal(err)
	}
	desired.Finalizers = []string{"finalizers.iam.services.k8s.aws/Policy"}
	latest, err := m.ReadOne(ctx, env, desired)
	if err != nil {
		t.Fatal(err)
	}
	arn := statusARN(&latest.Status.ResourceStatus)
	if arn != "arn:aws:iam::"+acktest.MotoAccountID+":policy/versions" || aws.ToString(latest.Status.DefaultVersionID) != "v1" {
		t.Fatalf("status %+v", latest.Status)
	}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("delta after create %v", d)
	}
	for i := 2; i <= 7; i++ {
		desired.Spec.PolicyDocument = doc(fmt.Sprintf("s3:Action%d", i))
		d := m.Delta(desired, latest)
		if fmt.Sprint(d) != "[spec.policyDocument]" {
			t.Fatalf("delta %v", d)
		}
		if latest, err = m.Update(ctx, env, desired, latest, d); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		if got := aws.ToString(latest.Status.DefaultVersionID); got != fmt.Sprintf("v%d", i) {
			t.Fatalf("default version %s after update %d", got, i)
		}
		if d := m.Delta(desired, latest); len(d) != 0 {
			t.Fatalf("delta after update %v", d)
		}
	}
	vs, err := c.ListPolicyVersions(ctx, &iam.ListPolicyVersionsInput{PolicyArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range vs.Versions {
		ids = append(ids, aws.ToString(v.VersionId))
	}
	if fmt.Sprint(ids) != "[v3 v4 v5 v6 v7]" {
		t.Fatalf("versions %v, want the five newest", ids)
	}
	if done, err := m.Delete(ctx, env, latest); !done || err != nil {
		t.Fatalf("delete: %v %v", done, err)
	}
	if _, err := m.ReadOne(ctx, env, desired); !m.Classifier().IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}

// A role with managed and inline policies is created whole, and its
// deletion detaches and deletes them first; an attached Policy refuses to go.
func TestRoleLifecycle(t *testing.T) {
	env, c := testEnv(t)
	ctx := context.Background()
	pm, rm := PolicyManager{}, RoleManager{}
	pol := &v1.Policy{Spec: v1.PolicySpec{Name: aws.String("attached"), PolicyDocument: doc("s3:GetObject")}}
	created, err := pm.Create(ctx, env, pol)
	if err != nil {
		t.Fatal(err)
	}
	polARN := statusARN(&created.Status.ResourceStatus)
	role := &v1.Role{Spec: v1.RoleSpec{
		Name: aws.String("app"), Path: aws.String("/team/"), Description: aws.String("d"), MaxSessionDuration: aws.Int64(7200),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`),
		Policies:                 []*string{&polARN},
		InlinePolicies:           map[string]*string{"inline": doc("sqs:SendMessage")},
		Tags:                     []*v1.Tag{{Key: aws.String("team"), Value: aws.String("a")}},
	}}
	if _, err := rm.Create(ctx, env, role); err != nil {
		t.Fatal(err)
	}
	role.Finalizers = []string{"finalizers.iam.services.k8s.aws/Role"}
	latest, err := rm.ReadOne(ctx, env, role)
	if err != nil {
		t.Fatal(err)
	}
	if d := rm.Delta(role, latest); len(d) != 0 {
		t.Fatalf("delta after create %v: %+v", d, latest.Spec)
	}
	if a := statusARN(&latest.Status.ResourceStatus); a != "arn:aws:iam::"+acktest.MotoAccountID+":role/team/app" || latest.Status.RoleID == nil || latest.Status.CreateDate == nil {
		t.Fatalf("status %+v", latest.Status)
	}
	pl, err := pm.ReadOne(ctx, env, created)
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(pl.Status.AttachmentCount) != 1 {
		t.Fatalf("attachment count %v", pl.Status.AttachmentCount)
	}
	if done, err := pm.Delete(ctx, env, pl); done || err == nil {
		t.Fatal("an attached policy was deleted")
	}
	if done, err := rm.Delete(ctx, env, latest); !done || err != nil {
		t.Fatalf("role delete: %v %v", done, err)
	}
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("app")}); !rm.Classifier().IsNotFound(err) {
		t.Fatalf("role still there: %v", err)
	}
	if pl, err = pm.ReadOne(ctx, env, created); err != nil || aws.ToInt64(pl.Status.AttachmentCount) != 0 {
		t.Fatalf("policy after role delete: %v %v", err, pl)
	}
	if done, err := pm.Delete(ctx, env, pl); !done || err != nil {
		t.Fatalf("policy delete: %v %v", done, err)
	}
}

func TestPolicyIdentity(t *testing.T) {
	m := PolicyManager{}
	env := ackrt.Env{AccountID: "123456789012", Partition: "aws"}
	p := &v1.Policy{Spec: v1.PolicySpec{Name: aws.String("new"), Path: aws.String("/team/")}}
	a := ackv1alpha1.ARN("arn:aws:iam::123456789012:policy/team/old")
	p.Status.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{ARN: &a}
	// Not owned: the spec (in this account) decides, a rename is fine.
	if got := policyARN(env, p); got != "arn:aws:iam::123456789012:policy/team/new" || m.Validate(p) != nil || m.ARN(env, p) != "" {
		t.Fatalf("unowned: %s %v", got, m.Validate(p))
	}
	p.Finalizers = []string{"finalizers.iam.services.k8s.aws/Policy"}
	if got := policyARN(env, p); got != string(a) || m.Validate(p) == nil {
		t.Fatalf("owned: %s %v", got, m.Validate(p))
	}
	// Adoption by ARN, even of an AWS managed policy, with no spec.
	ad := &v1.Policy{}
	ad.Annotations = map[string]string{ackv1alpha1.AnnotationAdoptionPolicy: "adopt"}
	if err := m.AdoptionFields(ad, map[string]string{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}); err != nil {
		t.Fatal(err)
	}
	if got := policyARN(env, ad); got != "arn:aws:iam::aws:policy/ReadOnlyAccess" || m.Validate(ad) != nil {
		t.Fatalf("adopting: %s %v", got, m.Validate(ad))
	}
	if m.AdoptionFields(&v1.Policy{}, map[string]string{"name": "x"}) == nil {
		t.Fatal("adoption without arn accepted")
	}
}
