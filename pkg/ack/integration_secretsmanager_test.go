package ack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	smv1alpha1 "github.com/trellis-dev/trellis/api/ack/secretsmanager/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
)

const (
	secretV1 = "first-s3cr3t-value"
	secretV2 = "second-s3cr3t-value"
)

// A Secret whose value comes from a Kubernetes Secret: created with the
// ARN moto chose, the value never in the object, a changed Kubernetes
// Secret written on resync, drift (value, description, tags) corrected,
// no writes while idle, and DeleteSecret with a recovery window.
func TestSecretLifecycle(t *testing.T) {
	f := startSecSQS(t, startOptions{awsProxy: true, edit: func(o *ack.Options) { o.Runtime.ResyncPeriod = 500 * time.Millisecond }})
	ctx := context.Background()
	ks := f.kubeSecret("db-creds", "password", secretV1)
	s := &smv1alpha1.Secret{}
	s.Name, s.Namespace = "db", f.ns
	s.Spec = smv1alpha1.SecretSpec{
		Name: aws.String("app/db"), Description: aws.String("database password"),
		SecretString: &ackv1alpha1.SecretKeyReference{Name: "db-creds", Key: "password"},
		Tags:         []*smv1alpha1.Tag{{Key: aws.String("team"), Value: aws.String("shop")}},
	}
	if err := f.c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	f.wait(s, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	d, err := f.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/db")})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(d.ARN)
	md := s.Status.ACKResourceMetadata
	if aws.ToString(s.Status.ID) != arn || md == nil || aws.ToString((*string)(md.ARN)) != arn ||
		aws.ToString((*string)(md.OwnerAccountID)) != acktest.MotoAccountID {
		t.Fatalf("status id %v, metadata %+v; moto's ARN %s", aws.ToString(s.Status.ID), md, arn)
	}
	if aws.ToString(s.Status.VersionID) != f.currentVersion(arn) || aws.ToString(d.Description) != "database password" ||
		len(d.Tags) != 1 || aws.ToString(d.Tags[0].Value) != "shop" {
		t.Fatalf("status versionID %v; secret %+v", aws.ToString(s.Status.VersionID), d)
	}
	if s.Finalizers[0] != "finalizers.secretsmanager.services.k8s.aws/Secret" {
		t.Fatalf("finalizers %v", s.Finalizers)
	}
	if got := f.secretValue(arn); got != secretV1 {
		t.Fatalf("value %q", got)
	}
	assertNoValue := func() {
		t.Helper()
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(smv1alpha1.GroupVersion.WithKind("Secret"))
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(s), u); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(u.Object)
		if strings.Contains(string(b), "s3cr3t") {
			t.Fatalf("the secret value is in the object: %s", b)
		}
	}
	assertNoValue()
	f.idle("secretsmanager.DescribeSecret")

	// The Kubernetes Secret changes: the new value reaches AWS.
	ks.StringData = map[string]string{"password": secretV2}
	if err := f.c.Update(ctx, ks); err != nil {
		t.Fatal(err)
	}
	f.eventually("new value in AWS", func() (bool, string) {
		v := f.secretValue(arn)
		return v == secretV2, v
	})
	f.eventually("status.versionID follows", func() (bool, string) {
		_ = f.c.Get(ctx, client.ObjectKeyFromObject(s), s)
		return aws.ToString(s.Status.VersionID) == f.currentVersion(arn), aws.ToString(s.Status.VersionID)
	})
	assertNoValue()

	// Drift behind trellis's back is corrected on resync.
	if _, err := f.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: &arn, SecretString: aws.String("by-hand")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sm.UpdateSecret(ctx, &secretsmanager.UpdateSecretInput{SecretId: &arn, Description: aws.String("by hand")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sm.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: &arn, TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sm.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: &arn, Tags: []smtypes.Tag{{Key: aws.String("extra"), Value: aws.String("x")}}}); err != nil {
		t.Fatal(err)
	}
	f.eventually("drift corrected", func() (bool, string) {
		d, err := f.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &arn})
		if err != nil {
			return false, err.Error()
		}
		v := f.secretValue(arn)
		ok := v == secretV2 && aws.ToString(d.Description) == "database password" &&
			len(d.Tags) == 1 && aws.ToString(d.Tags[0].Key) == "team"
		return ok, fmt.Sprintf("value %q description %q tags %v", v, aws.ToString(d.Description), d.Tags)
	})
	f.wait(s, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	f.idle("secretsmanager.DescribeSecret")

	// Deleted with Secrets Manager's recovery window, as ACK does.
	if err := f.c.Delete(ctx, s); err != nil {
		t.Fatal(err)
	}
	f.gone(s)
	d, err = f.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: &arn})
	if err != nil || d.DeletedDate == nil {
		t.Fatalf("secret not scheduled for deletion: %+v %v", d, err)
	}
	if n := f.proxy.Ops()["secretsmanager.DeleteSecret"]; n != 1 {
		t.Fatalf("%d DeleteSecret calls", n)
	}
}

// A missing Kubernetes Secret: the resource waits (Recoverable, naming the
// Secret) and nothing is created until it appears.
func TestSecretWaitsForKubernetesSecret(t *testing.T) {
	f := startSecSQS(t, startOptions{})
	ctx := context.Background()
	s := &smv1alpha1.Secret{}
	s.Name, s.Namespace = "later", f.ns
	s.Spec = smv1alpha1.SecretSpec{Name: aws.String("later"), SecretString: &ackv1alpha1.SecretKeyReference{Name: "not-yet", Key: "k"}}
	if err := f.c.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	f.wait(s, ackv1alpha1.ConditionTypeRecoverable, corev1.ConditionTrue)
	if msg := aws.ToString(s.Status.GetCondition(ackv1alpha1.ConditionTypeRecoverable).Message); !strings.Contains(msg, "not-yet") {
		t.Fatalf("message %q does not name the Secret", msg)
	}
	out, err := f.sm.ListSecrets(ctx, &secretsmanager.ListSecretsInput{})
	if err != nil || len(out.SecretList) != 0 {
		t.Fatalf("created before the value existed: %v %v", out, err)
	}
	f.kubeSecret("not-yet", "k", secretV1)
	f.wait(s, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if v := f.secretValue("later"); v != secretV1 {
		t.Fatalf("value %q", v)
	}
}

// Adoption of a secret that exists: read-only (no writes, not deleted with
// the object), then managed (the observed description becomes the spec and
// the spec is enforced from then on).
func TestSecretAdoption(t *testing.T) {
	f := startSecSQS(t, startOptions{awsProxy: true})
	ctx := context.Background()
	cr, err := f.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("legacy"), SecretString: aws.String("old"),
		Description: aws.String("made by hand"), Tags: []smtypes.Tag{{Key: aws.String("owner"), Value: aws.String("ops")}}})
	if err != nil {
		t.Fatal(err)
	}
	adopt := func(name string, ann map[string]string) *smv1alpha1.Secret {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(smv1alpha1.GroupVersion.WithKind("Secret"))
		u.SetName(name)
		u.SetNamespace(f.ns)
		u.SetAnnotations(ann)
		if err := f.c.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		s := &smv1alpha1.Secret{}
		s.Name, s.Namespace = name, f.ns
		f.wait(s, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
		return s
	}
	ro := adopt("observed", map[string]string{
		ackv1alpha1.AnnotationReadOnly: "true", ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: `{"name":"legacy"}`,
	})
	if aws.ToString(ro.Status.ID) != aws.ToString(cr.ARN) || ro.Annotations[ackv1alpha1.AnnotationAdopted] != "true" {
		t.Fatalf("status %+v annotations %v", ro.Status, ro.Annotations)
	}
	if err := f.c.Delete(ctx, ro); err != nil {
		t.Fatal(err)
	}
	f.gone(ro)
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("read-only adoption wrote to AWS: %v", w)
	}
	if v := f.secretValue("legacy"); v != "old" {
		t.Fatalf("value after read-only delete: %q", v)
	}

	managed := adopt("managed", map[string]string{
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt", ackv1alpha1.AnnotationAdoptionFields: `{"name":"legacy"}`,
	})
	if aws.ToString(managed.Spec.Name) != "legacy" || aws.ToString(managed.Spec.Description) != "made by hand" ||
		len(managed.Spec.Tags) != 1 || managed.Spec.SecretString != nil {
		t.Fatalf("adopted spec %+v", managed.Spec)
	}
	if w := f.writes(); len(w) != 0 {
		t.Fatalf("adoption wrote to AWS: %v", w)
	}
	managed.Spec.Description = aws.String("now managed")
	if err := f.c.Update(ctx, managed); err != nil {
		t.Fatal(err)
	}
	f.eventually("description in AWS", func() (bool, string) {
		d, err := f.sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String("legacy")})
		if err != nil {
			return false, err.Error()
		}
		return aws.ToString(d.Description) == "now managed", aws.ToString(d.Description)
	})
	if v := f.secretValue("legacy"); v != "old" {
		t.Fatalf("value changed without a secretString: %q", v)
	}
}
