package install

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/trellis-dev/trellis/pkg/localaws"
	"github.com/trellis-dev/trellis/pkg/testenv"
	"github.com/trellis-dev/trellis/test/chart"
)

var s3BucketGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "s3buckets"}

// TestACKWithChartIdentity: dist/install-with-ack.yaml as it is, the
// controller with its Deployment's flags and the chart's identity, moto as
// AWS. The seed S3Bucket (an S3 Bucket and an IAM Policy) goes ACTIVE with
// the ARNs in its status and both exist on the server: the chart's ACK role
// (the ACK groups, aggregated into the controller's) is all the ACK kinds
// need — no platform-team role, no forbidden request in the controller's log.
func TestACKWithChartIdentity(t *testing.T) {
	env := testenv.Current(t)
	if localaws.Command() == nil {
		t.Skip(localaws.ErrNotInstalled)
	}
	kubeconfig := chartIdentityKubeconfig(t, env)
	manifest := readDist(t, "install-with-ack.yaml")
	args := deploymentArgs(t, "install-with-ack.yaml")
	if !strings.Contains(strings.Join(args, " "), "--ack-services=") {
		t.Fatalf("install-with-ack.yaml's Deployment turns on no ACK service: %v", args)
	}
	bin := buildTrellis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ensureNamespace(t, env.Client, releaseNamespace)
	if err := chart.Install(ctx, env.Config, manifest); err != nil {
		t.Fatal(err)
	}

	moto, err := localaws.Start(ctx, 0, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(moto.Stop)
	// What the chart's aws.* values give the pod: credentials in the
	// environment, the region and endpoint as flags.
	t.Setenv("AWS_ACCESS_KEY_ID", localaws.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", localaws.SecretAccessKey)
	args = append(args, "--aws-region="+localaws.Region, "--aws-endpoint-url="+moto.Endpoint, "--ack-s3-use-path-style")
	logs, alive := startController(t, bin, kubeconfig, args)

	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	rgd := readYAML(t, "../../examples/s3bucket/rgd.yaml")
	if _, err := dyn.Resource(rgdGVR).Apply(ctx, rgd.GetName(), rgd, metav1.ApplyOptions{FieldManager: "test", Force: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dyn.Resource(rgdGVR).Delete(context.Background(), rgd.GetName(), metav1.DeleteOptions{}) })
	ns := env.Namespace(t)
	inst := readYAML(t, "../../examples/s3bucket/instance.yaml")
	inst.SetNamespace(ns)
	bucket := "chart-identity-" + ns
	if err := unstructured.SetNestedField(inst.Object, bucket, "spec", "name"); err != nil {
		t.Fatal(err)
	}
	// The instance kind exists once the RGD is accepted.
	var last *unstructured.Unstructured
	created := false
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if !created {
			if _, err := dyn.Resource(s3BucketGVR).Namespace(ns).Create(ctx, inst, metav1.CreateOptions{}); err != nil {
				return false, nil
			}
			created = true
		}
		u, err := dyn.Resource(s3BucketGVR).Namespace(ns).Get(ctx, inst.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = u
		state, _, _ := unstructured.NestedString(u.Object, "status", "state")
		policy, _, _ := unstructured.NestedString(u.Object, "status", "s3PolicyARN")
		return state == "ACTIVE" && policy != "", nil
	})
	if err != nil {
		msg := "the instance was never created"
		if last != nil {
			msg = conditionsText(last)
		}
		t.Fatalf("S3Bucket not ACTIVE with its ARNs: %v\n%s", err, msg)
	}
	arn, _, _ := unstructured.NestedString(last.Object, "status", "s3ARN")
	policyARN, _, _ := unstructured.NestedString(last.Object, "status", "s3PolicyARN")
	t.Logf("ACTIVE: bucket %s, policy %s", arn, policyARN)

	awsCfg := aws.Config{
		Region:       localaws.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(localaws.AccessKeyID, localaws.SecretAccessKey, ""),
		BaseEndpoint: aws.String(moto.Endpoint),
	}
	if _, err := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true }).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Errorf("bucket %s not on the server: %v", bucket, err)
	}
	if _, err := iam.NewFromConfig(awsCfg).GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(policyARN)}); err != nil {
		t.Errorf("policy %s not on the server: %v", policyARN, err)
	}
	if !alive() {
		t.Fatal("the controller exited")
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("the controller was refused a request: %s", line)
		}
	}
	// Deleting the instance deletes both AWS resources (delete verbs on the ACK groups).
	if err := dyn.Resource(s3BucketGVR).Namespace(ns).Delete(ctx, inst.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(s3BucketGVR).Namespace(ns).Get(ctx, inst.GetName(), metav1.GetOptions{})
		return err != nil, nil
	})
	if err != nil {
		t.Fatalf("S3Bucket not deleted: %v", err)
	}
	if _, err := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true }).HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); err == nil {
		t.Errorf("bucket %s still on the server after the instance was deleted", bucket)
	}
}
