package runtime

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-logr/logr"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/trellis-dev/trellis/pkg/ack/acktest"
)

// counter reads one sample of a family from controller-runtime's registry.
func counter(t *testing.T, family string, labels map[string]string) float64 {
	t.Helper()
	fams, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != family {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Every call made with the loaded config is counted once (retries
// included in the one call), with ACK's labels; failures by status code.
func TestOutboundRequestsCounted(t *testing.T) {
	srv := acktest.StartS3(t)
	acktest.SetAWSEnv(t, srv, nil, nil)
	a, err := LoadAWS(context.Background(), Config{DefaultAccountID: "000000000000"}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	c := s3.NewFromConfig(a.Config, func(o *s3.Options) { o.UsePathStyle = true })
	ctx := context.Background()
	create := map[string]string{"service": "s3", "op_type": "CREATE", "op_id": "CreateBucket"}
	head := map[string]string{"service": "s3", "op_type": "READ_ONE", "op_id": "HeadBucket"}
	missing := map[string]string{"service": "s3", "op_id": "HeadBucket", "status_code": "404"}
	c0, h0, m0 := counter(t, "ack_outbound_api_requests_total", create), counter(t, "ack_outbound_api_requests_total", head), counter(t, "ack_outbound_api_requests_error_total", missing)

	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("counted")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("counted")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("not-there")}); err == nil {
		t.Fatal("HeadBucket of a missing bucket succeeded")
	}
	if d := counter(t, "ack_outbound_api_requests_total", create) - c0; d != 1 {
		t.Errorf("CreateBucket counted %v times, want 1", d)
	}
	if d := counter(t, "ack_outbound_api_requests_total", head) - h0; d != 2 {
		t.Errorf("HeadBucket counted %v times, want 2", d)
	}
	if d := counter(t, "ack_outbound_api_requests_error_total", missing) - m0; d != 1 {
		t.Errorf("failed HeadBucket counted %v times with status 404, want 1", d)
	}
}

func TestServiceLabel(t *testing.T) {
	for id, want := range map[string]string{"S3": "s3", "DynamoDB": "dynamodb", "STS": "sts", "Elastic Load Balancing v2": "elasticloadbalancingv2"} {
		if got := serviceLabel(id); got != want {
			t.Errorf("serviceLabel(%q) = %q, want %q", id, got, want)
		}
	}
}
