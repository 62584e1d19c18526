package metrics

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/runtime/schema"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// families gathers controller-runtime's registry, by name.
func families(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	got, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range got {
		out[f.GetName()] = f
	}
	return out
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestFamiliesAndLabels(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "webapps"}
	m := ForGVR(gvr)
	if ForGVR(gvr) != m {
		t.Fatal("ForGVR resolves the children once per GVR")
	}
	m.Reconciled(20*time.Millisecond, nil)
	m.Reconciled(time.Millisecond, errors.New("boom"))
	m.Panicked()
	StateTransition(gvr.GroupVersion().WithKind("WebApp"), "IN_PROGRESS", "ACTIVE")
	RGDGraphBuild("webapp", time.Millisecond, nil)
	RGDStateTransition("webapp", "Inactive", "Active")
	CEL{}.ObserveEval(time.Microsecond)
	CELEvaluated(3)
	SetQueueLength(func() int { return 7 })
	AWSRequest("s3", "CreateBucket", false, 0)
	AWSRequest("s3", "GetBucketTagging", true, 404)

	want := map[string][]string{
		"instance_reconcile_total":                      {"gvr"},
		"instance_reconcile_duration_seconds":           {"gvr"},
		"instance_reconcile_errors_total":               {"gvr"},
		"instance_state_transitions_total":              {"gvr", "from_state", "to_state"},
		"rgd_graph_build_total":                         {"name"},
		"rgd_graph_build_duration_seconds":              {"name"},
		"rgd_graph_build_errors_total":                  nil, // no failed build recorded
		"rgd_state_transitions_total":                   {"from", "name", "to"},
		"dynamic_controller_reconcile_total":            {"gvr"},
		"dynamic_controller_reconcile_duration_seconds": {"gvr"},
		"dynamic_controller_reconcile_panics_total":     {"gvr"},
		"dynamic_controller_queue_length":               {},
		"cel_expr_eval_total":                           {},
		"cel_expr_eval_duration_seconds":                {},
		"ack_outbound_api_requests_total":               {"op_id", "op_type", "service"},
		"ack_outbound_api_requests_error_total":         {"op_id", "service", "status_code"},
	}
	fams := families(t)
	for name, labels := range want {
		f, ok := fams[name]
		if labels == nil {
			if ok {
				t.Errorf("%s: no samples expected", name)
			}
			continue
		}
		if !ok {
			t.Errorf("%s: not registered on controller-runtime's registry", name)
			continue
		}
		got := labelsOf(f.GetMetric()[0])
		if len(got) != len(labels) {
			t.Errorf("%s: labels %v, want %v", name, got, labels)
		}
		for _, l := range labels {
			if _, ok := got[l]; !ok {
				t.Errorf("%s: label %q missing (have %v)", name, l, got)
			}
		}
	}
	if v := testutil.ToFloat64(instanceReconcileErrors.WithLabelValues(gvr.String())); v != 1 {
		t.Errorf("errors = %v, want 1", v)
	}
	if v := testutil.ToFloat64(celEvalTotal); v != 3 {
		t.Errorf("cel_expr_eval_total = %v, want 3", v)
	}
	if v := testutil.ToFloat64(dynQueueLength); v != 7 {
		t.Errorf("queue length = %v, want 7", v)
	}
	if v := testutil.ToFloat64(instanceStateTransitions.WithLabelValues("kro.run/v1alpha1, Kind=WebApp", "IN_PROGRESS", "ACTIVE")); v != 1 {
		t.Errorf("transition = %v, want 1 (kro labels it with the GVK string)", v)
	}
}

func TestOpType(t *testing.T) {
	for op, want := range map[string]string{
		"ListBuckets": OpReadMany, "ListTagsOfResource": OpReadMany,
		"DescribeTable": OpReadOne, "HeadBucket": OpReadOne, "GetBucketTagging": OpReadOne, "GetCallerIdentity": OpReadOne,
		"GetQueueAttributes": OpGetAttributes, "SetQueueAttributes": OpSetAttributes,
		"CreateBucket": OpCreate, "CreateTable": OpCreate,
		"DeleteBucket": OpDelete, "DeleteBucketPolicy": OpDelete, "RemovePermission": OpDelete,
		"PutBucketTagging": OpUpdate, "UpdateTable": OpUpdate, "TagResource": OpUpdate, "UntagResource": OpUpdate,
	} {
		if got := OpType(op); got != want {
			t.Errorf("OpType(%s) = %s, want %s", op, got, want)
		}
		if IsWrite(OpType(op)) == (want == OpReadOne || want == OpReadMany || want == OpGetAttributes) {
			t.Errorf("IsWrite(%s) wrong", op)
		}
	}
}

// The hot path allocates nothing once the GVR's children are resolved.
func TestReconciledDoesNotAllocate(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "x.dev", Version: "v1", Resource: "things"}
	ForGVR(gvr)
	if n := testing.AllocsPerRun(100, func() {
		ForGVR(gvr).Reconciled(time.Millisecond, nil)
		CEL{}.ObserveEval(time.Microsecond)
	}); n != 0 {
		t.Errorf("%v allocations per reconcile record, want 0", n)
	}
}

// What the instance controller adds per CEL evaluation (two clock reads
// and one observation) and per reconcile.
func BenchmarkObserveEval(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			CEL{}.ObserveEval(time.Since(start))
		}
	})
}

func BenchmarkReconciled(b *testing.B) {
	gvr := schema.GroupVersionResource{Group: "x.dev", Version: "v1", Resource: "bench"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			ForGVR(gvr).Reconciled(time.Since(start), nil)
		}
	})
}
