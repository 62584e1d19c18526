package ack_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	iamv1alpha1 "github.com/trellis-dev/trellis/api/ack/iam/v1alpha1"
)

func (f *iamFixture) createRole(name string, tags map[string]string) {
	f.t.Helper()
	in := &iam.CreateRoleInput{RoleName: &name, AssumeRolePolicyDocument: aws.String(seedPodIdentityTrust)}
	for k, v := range tags {
		in.Tags = append(in.Tags, iamtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	if _, err := f.iam.CreateRole(context.Background(), in); err != nil {
		f.t.Fatal(err)
	}
}

func (f *iamFixture) roleTags(name string) map[string]string {
	out, err := f.iam.GetRole(context.Background(), &iam.GetRoleInput{RoleName: &name})
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	m := map[string]string{}
	for _, t := range out.Role.Tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func terminalMessage(st *ackv1alpha1.ResourceStatus) string {
	if c := st.GetCondition(ackv1alpha1.ConditionTypeTerminal); c != nil {
		return aws.ToString(c.Message)
	}
	return ""
}

// ACK community#2102: a Role whose name is taken by a role trellis does not
// own stops at "Resource already exists"; renamed, it creates its own role;
// renamed back onto the foreign role, it is refused (ACK's CRD has no CEL
// rule for spec.name, so the API server accepts the edit and the controller
// guards it); deleting the CR deletes only its own role.
func TestIAMRoleRename(t *testing.T) {
	f := startIAM(t, 0)
	ctx := context.Background()
	f.createRole("legacy", map[string]string{"owner": "someone-else"})

	role := &iamv1alpha1.Role{}
	role.Name, role.Namespace = "app-role", f.ns
	role.Spec.Name = aws.String("legacy")
	role.Spec.AssumeRolePolicyDocument = aws.String(seedPodIdentityTrust)
	role.Spec.Tags = []*iamv1alpha1.Tag{{Key: aws.String("owner"), Value: aws.String("trellis")}}
	if err := f.c.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	f.waitFor(role, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if msg := terminalMessage(&role.Status.ResourceStatus); msg != "Resource already exists" {
		t.Fatalf("terminal message %q", msg)
	}
	if len(role.Finalizers) != 0 || (role.Status.ACKResourceMetadata != nil && role.Status.ACKResourceMetadata.ARN != nil) {
		t.Fatalf("a foreign role became this CR's: finalizers %v, metadata %+v", role.Finalizers, role.Status.ACKResourceMetadata)
	}

	// Renamed: the CR creates and owns its own role.
	role.Spec.Name = aws.String("app-role")
	if err := f.c.Update(ctx, role); err != nil {
		t.Fatal(err)
	}
	f.waitFor(role, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if got := aws.ToString((*string)(role.Status.ACKResourceMetadata.ARN)); !strings.HasSuffix(got, ":role/app-role") {
		t.Fatalf("ARN %q", got)
	}

	// Renamed back onto the foreign role: accepted by the API server,
	// refused by the controller; neither role changes.
	role.Spec.Name = aws.String("legacy")
	if err := f.c.Update(ctx, role); err != nil {
		t.Fatalf("the API server refused the rename (ACK's CRD has no rule): %v", err)
	}
	f.waitFor(role, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if msg := terminalMessage(&role.Status.ResourceStatus); !strings.Contains(msg, "spec.name is immutable") || !strings.Contains(msg, "role/app-role") {
		t.Fatalf("terminal message %q", msg)
	}
	if tags := f.roleTags("legacy"); tags["owner"] != "someone-else" {
		t.Fatalf("foreign role changed: %v", tags)
	}

	// Deleting the CR deletes the role it owns, not the one its spec names.
	if err := f.c.Delete(ctx, role); err != nil {
		t.Fatal(err)
	}
	f.waitGoneIAM(role)
	if f.roleExists("app-role") {
		t.Fatal("owned role not deleted")
	}
	if !f.roleExists("legacy") {
		t.Fatal("the foreign role was deleted")
	}

	// policies and policyRefs together are refused, as in ACK.
	both := &iamv1alpha1.Role{}
	both.Name, both.Namespace = "both", f.ns
	both.Spec.Name = aws.String("both")
	both.Spec.AssumeRolePolicyDocument = aws.String(seedPodIdentityTrust)
	both.Spec.Policies = []*string{aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")}
	both.Spec.PolicyRefs = []*ackv1alpha1.ResourceReference{{From: &ackv1alpha1.NamespacedName{Name: aws.String("p")}}}
	if err := f.c.Create(ctx, both); err != nil {
		t.Fatal(err)
	}
	f.waitFor(both, ackv1alpha1.ConditionTypeReferencesResolved, corev1.ConditionFalse)
	if f.roleExists("both") {
		t.Fatal("role created despite the conflicting fields")
	}
}

// Adoption: a Policy by ARN read-only (status only; never deleted), a Role
// with adopt (the spec becomes what AWS has, then rules), retained on
// deletion; adopt-or-create applies the spec to an existing role, and with
// the delete policy the adopted role goes with the CR.
func TestIAMAdoption(t *testing.T) {
	f := startIAM(t, 0)
	ctx := context.Background()
	f.createRole("existing", map[string]string{"owner": "ops"})
	cp, err := f.iam.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("existing-pol"), PolicyDocument: aws.String(seedS3WritePolicy)})
	if err != nil {
		t.Fatal(err)
	}
	polARN := aws.ToString(cp.Policy.Arn)
	if _, err := f.iam.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: aws.String("existing"), PolicyArn: &polARN}); err != nil {
		t.Fatal(err)
	}

	// Read-only Policy, by ARN: status filled, spec untouched, kept on delete.
	ro := newUnstructured("Policy", "existing-pol", f.ns, nil, map[string]string{
		ackv1alpha1.AnnotationReadOnly:       "true",
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: `{"arn": "` + polARN + `"}`,
	})
	if err := f.c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	pol := &iamv1alpha1.Policy{}
	pol.Name, pol.Namespace = "existing-pol", f.ns
	f.waitFor(pol, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if aws.ToString((*string)(pol.Status.ACKResourceMetadata.ARN)) != polARN || aws.ToInt64(pol.Status.AttachmentCount) != 1 ||
		pol.Spec.Name != nil || pol.Annotations[ackv1alpha1.AnnotationAdopted] != "true" {
		t.Fatalf("read-only policy: spec %+v status %+v", pol.Spec, pol.Status)
	}

	// adopt: the spec is what AWS has; from then on the spec rules.
	adopted := newUnstructured("Role", "existing", f.ns, nil, map[string]string{
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: `{"name": "existing"}`,
	})
	if err := f.c.Create(ctx, adopted); err != nil {
		t.Fatal(err)
	}
	role := &iamv1alpha1.Role{}
	role.Name, role.Namespace = "existing", f.ns
	f.waitFor(role, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	s := role.Spec
	if aws.ToString(s.Name) != "existing" || len(s.Policies) != 1 || aws.ToString(s.Policies[0]) != polARN ||
		len(s.Tags) != 1 || aws.ToString(s.Tags[0].Value) != "ops" || !strings.Contains(aws.ToString(s.AssumeRolePolicyDocument), "pods.eks.amazonaws.com") {
		t.Fatalf("adopted spec %+v", s)
	}
	role.Spec.Tags = append(role.Spec.Tags, &iamv1alpha1.Tag{Key: aws.String("managed-by"), Value: aws.String("trellis")})
	if err := f.c.Update(ctx, role); err != nil {
		t.Fatal(err)
	}
	f.eventually("tag added to the adopted role", func() (bool, string) {
		tags := f.roleTags("existing")
		return tags["managed-by"] == "trellis" && tags["owner"] == "ops", fmt.Sprint(tags)
	})
	// Retained on deletion.
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(role), role); err != nil {
		t.Fatal(err)
	}
	role.Annotations[ackv1alpha1.AnnotationDeletionPolicy] = "retain"
	if err := f.c.Update(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Delete(ctx, role); err != nil {
		t.Fatal(err)
	}
	f.waitGoneIAM(role)
	if !f.roleExists("existing") || len(f.attached("existing")) != 1 {
		t.Fatalf("retained role changed: exists %v, attached %v", f.roleExists("existing"), f.attached("existing"))
	}
	if err := f.c.Delete(ctx, pol); err != nil {
		t.Fatal(err)
	}
	f.waitGoneIAM(pol)
	if _, err := f.iam.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: &polARN}); err != nil {
		t.Fatalf("read-only policy deleted: %v", err)
	}

	// adopt-or-create: the spec (no policies, other tags) is applied to the
	// existing role, which then goes with the CR (delete policy).
	aoc := &iamv1alpha1.Role{}
	aoc.Name, aoc.Namespace = "existing-aoc", f.ns
	aoc.Annotations = map[string]string{ackv1alpha1.AnnotationAdoptionPolicy: "adopt-or-create"}
	aoc.Spec.Name = aws.String("existing")
	aoc.Spec.AssumeRolePolicyDocument = aws.String(seedPodIdentityTrust)
	aoc.Spec.Tags = []*iamv1alpha1.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}
	if err := f.c.Create(ctx, aoc); err != nil {
		t.Fatal(err)
	}
	f.eventually("spec applied to the adopted role", func() (bool, string) {
		tags := f.roleTags("existing")
		return len(tags) == 1 && tags["env"] == "dev" && len(f.attached("existing")) == 0, fmt.Sprint(tags, f.attached("existing"))
	})
	f.waitFor(aoc, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if aoc.Annotations[ackv1alpha1.AnnotationAdopted] != "true" {
		t.Fatalf("annotations %v", aoc.Annotations)
	}
	if err := f.c.Delete(ctx, aoc); err != nil {
		t.Fatal(err)
	}
	f.waitGoneIAM(aoc)
	if f.roleExists("existing") {
		t.Fatal("adopted role with the delete policy was not deleted")
	}
}
