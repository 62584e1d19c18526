package secretsmanager

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/go-logr/logr"

	v1 "github.com/trellis-dev/trellis/api/ack/secretsmanager/v1alpha1"
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

func getValue(t *testing.T, env ackrt.Env, id string) string {
	t.Helper()
	out, err := client(env).GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &id})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.SecretString)
}

// The AWS side against moto: create with the value, the ARN moto chose,
// a new value put on a Secret change, tags, delete with recovery window.
func TestSecretOnMoto(t *testing.T) {
	env := motoEnv(t)
	ctx := context.Background()
	m := SecretManager{}
	cl := m.Classifier()
	desired := managed()
	desired.Status = v1.SecretStatus{}
	desired.Spec.Description = aws.String("d")
	desired.Spec.Tags = []*v1.Tag{{Key: aws.String("a"), Value: aws.String("1")}}
	if _, err := m.ReadOne(ctx, env, desired); !cl.IsNotFound(err) {
		t.Fatalf("ReadOne before create: want NotFound, got %v", err)
	}
	created, err := m.Create(ctx, env, desired)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := m.ReadOne(ctx, env, desired)
	if err != nil {
		t.Fatal(err)
	}
	m.MergeCreateStatus(created, latest)
	arn := aws.ToString(latest.Status.ID)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-") || len(arn) != len("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-")+6 {
		t.Fatalf("ARN %q", arn)
	}
	if aws.ToString(latest.Status.VersionID) != aws.ToString(created.Status.VersionID) || latest.Status.VersionID == nil {
		t.Fatalf("version %v, created %v", latest.Status.VersionID, created.Status.VersionID)
	}
	if getValue(t, env, arn) != plaintext {
		t.Fatal("value not stored")
	}
	desired.Status = latest.Status // as stored after the first loop
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("delta after create: %v", d)
	}
	// The Kubernetes Secret changed, and the tags.
	desired.SetResolved(&v1.ResolvedValue{Value: "v2", Source: "ns/db-creds/password@200"})
	desired.Spec.Tags = []*v1.Tag{{Key: aws.String("b"), Value: aws.String("2")}}
	d := m.Delta(desired, latest)
	if want := []string{"spec.secretString", "spec.tags"}; !reflect.DeepEqual(d, want) {
		t.Fatalf("delta %v, want %v", d, want)
	}
	latest, err = m.Update(ctx, env, desired, latest, d)
	if err != nil {
		t.Fatal(err)
	}
	if getValue(t, env, arn) != "v2" || aws.ToString(latest.Status.SecretStringSourceVersion) != "ns/db-creds/password@200" ||
		aws.ToString(latest.Status.VersionID) == aws.ToString(desired.Status.VersionID) {
		t.Fatalf("after update: status %+v", latest.Status)
	}
	desired.Status = latest.Status
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("delta after update: %v (spec %+v)", d, latest.Spec)
	}
	done, err := m.Delete(ctx, env, latest)
	if err != nil || !done {
		t.Fatalf("delete: %v %v", done, err)
	}
	// Scheduled for deletion (recovery window): absent for trellis.
	if _, err := m.ReadOne(ctx, env, desired); !cl.IsNotFound(err) {
		t.Fatalf("ReadOne after delete: want NotFound, got %v", err)
	}
}
