package demo_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/demo"
	"github.com/trellis-dev/trellis/pkg/localaws"
	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

var logs bytes.Buffer

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(&logs)))
	// Full: the examples' Deployments need scheduled, ready pods.
	os.Exit(testenv.Run(m, testenv.Options{Full: true}))
}

// TestSeedDemo is `make demo --delete` as a test: every seed example reaches
// ACTIVE on the local control plane with trellis's controllers and moto,
// the statuses carry the ARNs and the DB endpoint, and deleting everything
// leaves nothing in moto.
func TestSeedDemo(t *testing.T) {
	env := testenv.Current(t)
	if localaws.Command() == nil {
		if os.Getenv("TRELLIS_ACK_REQUIRE_SERVERS") == "1" {
			t.Fatal(localaws.ErrNotInstalled)
		}
		t.Skip(localaws.ErrNotInstalled)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var motoLog bytes.Buffer
	srv, err := localaws.Start(ctx, 0, &motoLog)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if err := localaws.InstallSecretProviderClassCRD(ctx, env.Config); err != nil {
		t.Fatal(err)
	}

	opts := ack.DefaultOptions()
	opts.Runtime.EndpointURL = srv.Endpoint
	opts.Runtime.Credentials = credentials.NewStaticCredentialsProvider(localaws.AccessKeyID, localaws.SecretAccessKey, "")
	opts.Runtime.Region = localaws.Region
	opts.Runtime.S3UsePathStyle = true
	opts.Runtime.NotSyncedRequeue = time.Second
	skip := true
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := operator.Setup(mgr, operator.Options{InstanceWorkers: 4, RGDWorkers: 2, InstallCRDs: true}); err != nil {
		t.Fatal(err)
	}
	if err := ack.Setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	defer func() { cancel(); <-done }()

	var out bytes.Buffer
	err = demo.Run(ctx, env.Config, demo.Options{
		Examples: "../../examples", AWSEndpoint: srv.Endpoint, Timeout: 2 * time.Minute, Delete: true, Out: &out,
	})
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		t.Logf("controller logs:\n%s", logs.String())
		t.Fatal(err)
	}
	report := out.String()
	for _, want := range []string{
		"S3Bucket/s3demo", "s3ARN=arn:aws:s3:::krmops-kro-s3-bucket-123456789012", "s3PolicyARN=arn:aws:iam::123456789012:policy/",
		"CartsStack/carts-kro", "tableARN=arn:aws:dynamodb:",
		"Application/my-app", "bucketARN=arn:aws:s3:::my-app-data",
		"DbWebStack/webapp-instance", "nested RdsInstance/webapp-rds", "endpointAddress=", "secretARN=arn:aws:secretsmanager:",
		"nested PodIdentity/webapp-rds", "nothing is left in the local AWS",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the demo's report lacks %q", want)
		}
	}
}
