package s3

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-logr/logr"

	s3v1alpha1 "github.com/trellis-dev/trellis/api/ack/s3/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func testEnv(t *testing.T) (ackrt.Env, *acktest.Server) {
	t.Helper()
	srv := acktest.StartS3(t)
	acktest.SetAWSEnv(t, srv, nil, nil)
	cfg := ackrt.Config{DefaultAccountID: "000000000000", S3UsePathStyle: true}
	a, err := ackrt.LoadAWS(context.Background(), cfg, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return ackrt.Env{AWS: a.Config, Region: a.Region(), AccountID: "000000000000", Partition: "aws", Config: cfg}, srv
}

func bucket(name string) *s3v1alpha1.Bucket {
	b := &s3v1alpha1.Bucket{}
	b.Spec.Name = aws.String(name)
	return b
}

func TestBucketLifecycle(t *testing.T) {
	env, _ := testEnv(t)
	ctx := context.Background()
	m := BucketManager{}
	cl := m.Classifier()

	desired := bucket("trellis-lifecycle")
	desired.Spec.Tagging = &s3v1alpha1.Tagging{TagSet: []*s3v1alpha1.Tag{{Key: aws.String("app"), Value: aws.String("one")}}}
	desired.Spec.Versioning = &s3v1alpha1.VersioningConfiguration{Status: aws.String("Enabled")}

	if _, err := m.ReadOne(ctx, env, desired); !cl.IsNotFound(err) {
		t.Fatalf("ReadOne before create: want NotFound, got %v", err)
	}
	created, err := m.Create(ctx, env, desired)
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.Location == nil {
		t.Errorf("no location from CreateBucket")
	}
	latest, err := m.ReadOne(ctx, env, desired)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("delta after create: %v (latest %+v)", d, latest.Spec)
	}
	if got := m.ARN(env, latest); got != "arn:aws:s3:::trellis-lifecycle" {
		t.Errorf("ARN %q", got)
	}

	// Change the tags: Delta sees it, Update writes it, the server has it.
	desired.Spec.Tagging.TagSet = []*s3v1alpha1.Tag{{Key: aws.String("app"), Value: aws.String("two")}, {Key: aws.String("team"), Value: aws.String("x")}}
	d := m.Delta(desired, latest)
	if len(d) != 1 || d[0] != "spec.tagging" {
		t.Fatalf("delta %v, want [spec.tagging]", d)
	}
	latest, err = m.Update(ctx, env, desired, latest, d)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("delta after update: %v", d)
	}
	out, err := s3.NewFromConfig(env.AWS, func(o *s3.Options) { o.UsePathStyle = true }).
		GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: aws.String("trellis-lifecycle")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TagSet) != 2 {
		t.Errorf("server tags %v", out.TagSet)
	}

	// Policy round trip (compared as JSON).
	desired.Spec.Policy = aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::trellis-lifecycle/*"]}]}`)
	latest, err = m.ReadOne(ctx, env, desired)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(desired, latest); len(d) != 1 || d[0] != "spec.policy" {
		t.Fatalf("delta %v, want [spec.policy]", d)
	}
	if latest, err = m.Update(ctx, env, desired, latest, []string{"spec.policy"}); err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Fatalf("delta after policy update: %v (server policy %q)", d, aws.ToString(latest.Spec.Policy))
	}

	done, err := m.Delete(ctx, env, latest)
	if err != nil || !done {
		t.Fatalf("delete: %v %v", done, err)
	}
	if _, err := m.ReadOne(ctx, env, desired); !cl.IsNotFound(err) {
		t.Fatalf("ReadOne after delete: want NotFound, got %v", err)
	}
}

func TestBucketInvalidNameIsTerminal(t *testing.T) {
	env, _ := testEnv(t)
	m := BucketManager{}
	_, err := m.Create(context.Background(), env, bucket("Invalid_Bucket_Name"))
	if err == nil {
		t.Fatal("creating an invalid bucket name succeeded")
	}
	if c := m.Classifier().Classify(err); c != ackrt.ClassTerminal {
		t.Fatalf("class %v for %v, want terminal", c, err)
	}
	t.Logf("message: %s", ackrt.AWSErrorMessage(err))
}

func TestBucketEndpointDownIsRecoverable(t *testing.T) {
	env, srv := testEnv(t)
	m := BucketManager{}
	srv.Stop()
	_, err := m.ReadOne(context.Background(), env, bucket("trellis-down"))
	if err == nil {
		t.Fatal("ReadOne against a stopped server succeeded")
	}
	if c := m.Classifier().Classify(err); c != ackrt.ClassRecoverable {
		t.Fatalf("class %v for %v, want recoverable", c, err)
	}
	srv.Start()
	if _, err := m.ReadOne(context.Background(), env, bucket("trellis-down")); !m.Classifier().IsNotFound(err) {
		t.Fatalf("after restart: want NotFound, got %v", err)
	}
}
