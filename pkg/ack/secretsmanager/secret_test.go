package secretsmanager

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"k8s.io/apimachinery/pkg/runtime"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/secretsmanager/v1alpha1"
)

const plaintext = "correct horse battery staple"

func managed() *v1.Secret {
	s := &v1.Secret{Spec: v1.SecretSpec{
		Name:         aws.String("db"),
		SecretString: &ackv1alpha1.SecretKeyReference{Name: "db-creds", Key: "password"},
	}}
	s.Status.ID = aws.String("arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf")
	s.Status.VersionID = aws.String("v1")
	s.Status.SecretStringSourceVersion = aws.String("ns/db-creds/password@100")
	s.SetResolved(&v1.ResolvedValue{Value: plaintext, Source: "ns/db-creds/password@100"})
	return s
}

// The value lives only in memory: copies keep it, JSON never has it.
func TestResolvedValueNeverSerialised(t *testing.T) {
	s := managed()
	c := s.DeepCopy()
	if r := c.Resolved(); r == nil || r.Value != plaintext {
		t.Fatalf("deep copy lost the resolved value: %+v", r)
	}
	c.Resolved().Value = "changed"
	if s.Resolved().Value != plaintext {
		t.Fatal("deep copy shares the resolved value")
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), plaintext) {
		t.Fatalf("the value is in the JSON: %s", b)
	}
	// The reconciler decodes objects with the unstructured converter.
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprint(u), plaintext) {
		t.Fatalf("the value is in the unstructured object: %v", u)
	}
	back := &v1.Secret{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u, back); err != nil {
		t.Fatal(err)
	}
	if back.Resolved() != nil || aws.ToString(back.Spec.Name) != "db" {
		t.Fatalf("decoded %+v", back)
	}
}

func TestDelta(t *testing.T) {
	m := SecretManager{}
	latest := managed()
	latest.Spec.Description = aws.String("observed")
	latest.Spec.Tags = []*v1.Tag{{Key: aws.String("team"), Value: aws.String("a")}}

	desired := managed()
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("nothing managed changed, got %v", d)
	}
	// The Kubernetes Secret changed: a new resourceVersion.
	desired.SetResolved(&v1.ResolvedValue{Value: "new", Source: "ns/db-creds/password@101"})
	if d := m.Delta(desired, latest); !reflect.DeepEqual(d, []string{"spec.secretString"}) {
		t.Fatalf("changed Secret: %v", d)
	}
	// Someone put another value in AWS: AWSCURRENT is not ours any more.
	desired = managed()
	latest.Status.VersionID = aws.String("v2")
	if d := m.Delta(desired, latest); !reflect.DeepEqual(d, []string{"spec.secretString"}) {
		t.Fatalf("value changed in AWS: %v", d)
	}
	latest.Status.VersionID = aws.String("v1")
	// Never written by trellis (e.g. adopted): written once.
	desired.Status.SecretStringSourceVersion = nil
	desired.Status.VersionID = nil
	if d := m.Delta(desired, latest); !reflect.DeepEqual(d, []string{"spec.secretString"}) {
		t.Fatalf("never written: %v", d)
	}
	// No secretString in the spec: the value is not managed.
	desired = managed()
	desired.Spec.SecretString = nil
	latest.Status.VersionID = aws.String("v9")
	desired.Spec.Description = aws.String("wanted")
	desired.Spec.Tags = []*v1.Tag{{Key: aws.String("team"), Value: aws.String("b")}}
	want := []string{"spec.description", "spec.tags"}
	if d := m.Delta(desired, latest); !reflect.DeepEqual(d, want) {
		t.Fatalf("delta %v, want %v", d, want)
	}
	// An empty value is not written (as in ACK).
	desired = managed()
	desired.SetResolved(&v1.ResolvedValue{Value: "", Source: "ns/db-creds/password@102"})
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("empty value: %v", d)
	}
}

func TestValidateAndAdoptionFields(t *testing.T) {
	m := SecretManager{}
	if err := m.Validate(managed()); err != nil {
		t.Fatal(err)
	}
	renamed := managed()
	renamed.Spec.Name = aws.String("d")
	if err := m.Validate(renamed); err == nil {
		t.Fatal("a renamed secret passed validation")
	}
	if err := m.Validate(&v1.Secret{}); err == nil {
		t.Fatal("no name accepted")
	}
	s := &v1.Secret{}
	if err := m.AdoptionFields(s, map[string]string{"name": "db", "id": "arn:x"}); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(s.Spec.Name) != "db" || aws.ToString(s.Status.ID) != "arn:x" {
		t.Fatalf("%+v %+v", s.Spec, s.Status)
	}
	if err := m.AdoptionFields(&v1.Secret{}, map[string]string{}); err == nil {
		t.Fatal("empty adoption fields accepted")
	}
}
