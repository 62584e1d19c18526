package ack_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	corev1 "k8s.io/api/core/v1"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	s3v1alpha1 "github.com/trellis-dev/trellis/api/ack/s3/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/metrics"
)

// awsCalls sums ack_outbound_api_requests_total for service s3 from
// controller-runtime's registry (what /metrics serves), split into writes
// and reads, plus the calls of one operation.
func awsCalls(t *testing.T, op string) (writes, reads, ofOp float64) {
	t.Helper()
	fams, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "ack_outbound_api_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["service"] != "s3" {
				continue
			}
			v := m.GetCounter().GetValue()
			if metrics.IsWrite(l["op_type"]) {
				writes += v
			} else {
				reads += v
			}
			if l["op_id"] == op {
				ofOp += v
			}
		}
	}
	return writes, reads, ofOp
}

// A synced Bucket that nothing changes costs reads on every resync and no
// AWS writes; the counters carry ACK's labels for the calls made.
func TestOutboundRequestsIdleBucket(t *testing.T) {
	f := start(t, startOptions{edit: func(o *ack.Options) { o.Runtime.ResyncPeriod = time.Second }})
	ctx := context.Background()
	w0, _, creates0 := awsCalls(t, "CreateBucket")
	b := &s3v1alpha1.Bucket{}
	f.load("000-ack-bucket.yaml", b)
	b.Spec.Tagging = &s3v1alpha1.Tagging{TagSet: []*s3v1alpha1.Tag{{Key: aws.String("app"), Value: aws.String("idle")}}}
	if err := f.c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	w1, _, creates1 := awsCalls(t, "CreateBucket")
	if creates1-creates0 != 1 {
		t.Errorf("CreateBucket counted %v times, want 1", creates1-creates0)
	}
	if w1 <= w0 {
		t.Fatalf("creating the bucket counted no writes (%v → %v)", w0, w1)
	}

	// Three resyncs (each starts with HeadBucket) with nothing changed.
	_, r1, heads1 := awsCalls(t, "HeadBucket")
	f.eventually("three resyncs", func() (bool, string) {
		_, _, heads := awsCalls(t, "HeadBucket")
		return heads >= heads1+3, fmt.Sprintf("%v HeadBucket calls since synced", heads-heads1)
	})
	w2, r2, _ := awsCalls(t, "HeadBucket")
	if w2 != w1 {
		t.Errorf("%v AWS writes while the bucket sat synced and unchanged, want 0", w2-w1)
	}
	if r2 <= r1 {
		t.Errorf("resyncs counted no reads")
	}
}
