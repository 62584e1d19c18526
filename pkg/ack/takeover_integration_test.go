package ack_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	s3v1alpha1 "github.com/trellis-dev/trellis/api/ack/s3/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	"github.com/trellis-dev/trellis/pkg/localaws"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

const bucketsCRD = "buckets.s3.services.k8s.aws"

// A Bucket that ACK's own S3 controller created and manages — its
// finalizer, status.ackResourceMetadata and conditions written by ACK
// before trellis starts — is taken over when trellis's controllers replace
// ACK's: no CreateBucket, no DeleteBucket, the metadata kept; deleting it
// afterwards deletes the bucket as ACK would. Here on trellis's CRD.
func TestTakeOverFromACK(t *testing.T) {
	testTakeOverFromACK(t, false)
}

// The same take-over on ACK's upstream CRD, kept with --ack-install-crds=false:
// trellis serves the Bucket through ACK's schema and never writes the CRD
// (its resourceVersion is unchanged), so there is nothing to fight over.
func TestTakeOverFromACKOnACKsCRD(t *testing.T) {
	testTakeOverFromACK(t, true)
}

func testTakeOverFromACK(t *testing.T, acksCRD bool) {
	env := testenv.Current(t)
	ctx := context.Background()
	crdRV := ""
	if acksCRD {
		crdRV = installACKsBucketCRD(t, env)
	} else if err := ack.InstallCRDs(ctx, env.Config, []string{bucketsCRD}, time.Minute); err != nil {
		t.Fatal(err)
	}

	// ACK's state, in AWS and in the cluster, before trellis runs.
	moto := acktest.StartMoto(t)
	awsS3 := s3.New(s3.Options{
		Region:       localaws.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(localaws.AccessKeyID, localaws.SecretAccessKey, ""),
		BaseEndpoint: aws.String(moto.Endpoint),
		UsePathStyle: true,
	})
	name := "trellis-from-ack"
	if _, err := awsS3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name, CreateBucketConfiguration: &s3types.CreateBucketConfiguration{
		LocationConstraint: s3types.BucketLocationConstraint(localaws.Region),
	}}); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme()})
	if err != nil {
		t.Fatal(err)
	}
	b := &s3v1alpha1.Bucket{}
	b.Name, b.Namespace, b.Spec.Name = "from-ack", env.Namespace(t), aws.String(name)
	b.Finalizers = []string{"finalizers.s3.services.k8s.aws/Bucket"}
	if err := c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:s3:::" + name
	status, _ := json.Marshal(map[string]any{"status": map[string]any{
		"ackResourceMetadata": map[string]any{"arn": arn, "ownerAccountID": acktest.MotoAccountID, "region": localaws.Region},
		"conditions": []any{map[string]any{"type": "ACK.ResourceSynced", "status": "True",
			"lastTransitionTime": "2026-01-01T00:00:00Z", "message": "Resource synced successfully"}},
	}})
	if err := c.Status().Patch(ctx, b, client.RawPatch(types.MergePatchType, status)); err != nil {
		t.Fatal(err)
	}

	f := start(t, startOptions{motoServer: moto, s3Proxy: true, edit: func(o *ack.Options) { o.InstallCRDs = !acksCRD }})
	// trellis has looked at the bucket (read it) and reports it synced.
	f.eventually("trellis reads the bucket", func() (bool, string) {
		for _, r := range f.proxy.Requests() {
			if strings.Contains(r, "/"+name) {
				return true, ""
			}
		}
		return false, strings.Join(f.proxy.Requests(), ", ")
	})
	f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	for _, r := range f.proxy.Requests() {
		method, path, _ := strings.Cut(r, " ")
		if strings.Trim(path, "/") == name && (method == "PUT" || method == "DELETE") {
			t.Errorf("trellis called %s on a bucket ACK already manages", r)
		}
	}
	if got := b.Status.ACKResourceMetadata; got == nil || got.ARN == nil || string(*got.ARN) != arn {
		t.Errorf("ackResourceMetadata not kept: %+v", got)
	}
	if !f.bucketExists(name) {
		t.Fatal("the bucket is gone")
	}
	if acksCRD {
		crd := &apiextv1.CustomResourceDefinition{}
		if err := crdClient(t, env).Get(ctx, client.ObjectKey{Name: bucketsCRD}, crd); err != nil {
			t.Fatal(err)
		}
		if crd.ResourceVersion != crdRV {
			t.Errorf("trellis wrote ACK's CRD (resourceVersion %s, was %s)", crd.ResourceVersion, crdRV)
		}
	}
	if err := f.c.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitGone(b)
	if f.bucketExists(name) {
		t.Error("deleting the Bucket left the bucket on the server")
	}
}

func crdClient(t *testing.T, env *testenv.Env) client.Client {
	t.Helper()
	s := runtime.NewScheme()
	_ = apiextv1.AddToScheme(s)
	c, err := client.New(env.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// installACKsBucketCRD replaces the Bucket CRD with ACK's own (as ACK's
// chart installs it, no trellis label) and returns its resourceVersion once
// established; trellis's is back when the test ends, for the other tests.
func installACKsBucketCRD(t *testing.T, env *testenv.Env) string {
	t.Helper()
	ctx := context.Background()
	c := crdClient(t, env)
	raw, err := os.ReadFile("crdgen/testdata/s3.services.k8s.aws_buckets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	acks := &apiextv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(raw, acks); err != nil {
		t.Fatal(err)
	}
	existing := &apiextv1.CustomResourceDefinition{}
	switch err := c.Get(ctx, client.ObjectKey{Name: acks.Name}, existing); {
	case apierrors.IsNotFound(err):
		if err := c.Create(ctx, acks); err != nil {
			t.Fatal(err)
		}
	case err != nil:
		t.Fatal(err)
	default:
		existing.Spec, existing.Labels = acks.Spec, nil
		if err := c.Update(ctx, existing); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		if err := ack.InstallCRDs(context.Background(), env.Config, []string{bucketsCRD}, time.Minute); err != nil {
			t.Errorf("restoring trellis's Bucket CRD: %v", err)
		}
	})
	// Established with ACK's schema (no trellis-only spec.tags).
	got := &apiextv1.CustomResourceDefinition{}
	deadline := time.Now().Add(time.Minute)
	for {
		if err := c.Get(ctx, client.ObjectKey{Name: bucketsCRD}, got); err != nil {
			t.Fatal(err)
		}
		_, trellisField := got.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["tags"]
		established := false
		for _, cond := range got.Status.Conditions {
			established = established || (cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue)
		}
		if established && !trellisField {
			return got.ResourceVersion
		}
		if time.Now().After(deadline) {
			t.Fatal("ACK's Bucket CRD not established")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
