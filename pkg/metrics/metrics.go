// Package metrics holds trellis's Prometheus metric families. The names and
// labels are kro's (pkg/metrics of kro, no prefix), so dashboards and alerts
// written for kro keep working; ACK's outbound AWS request counters are here
// too. Every family is registered on controller-runtime's registry, next to
// controller-runtime's own (controller_runtime_*, workqueue_*, rest_client_*),
// and served on the manager's /metrics.
//
// The hot paths resolve their labelled children once (per GVR, see ForGVR):
// recording an observation then costs a few atomic operations and allocates
// nothing.
package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime/schema"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// durationBuckets are kro's buckets for reconcile and build durations.
var durationBuckets = []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 20, 25, 30, 45, 60, 120}

var (
	instanceReconcileTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "instance_reconcile_total",
		Help: "Instance reconciliations, per instance GVR.",
	}, []string{"gvr"})
	instanceReconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "instance_reconcile_duration_seconds",
		Help:    "Time an instance reconciliation takes, per instance GVR.",
		Buckets: durationBuckets,
	}, []string{"gvr"})
	instanceReconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "instance_reconcile_errors_total",
		Help: "Instance reconciliations that returned an error (and are retried), per instance GVR.",
	}, []string{"gvr"})
	instanceStateTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "instance_state_transitions_total",
		Help: "Instance status.state changes written, per instance kind and from/to state (from_state is empty for a new instance).",
	}, []string{"gvr", "from_state", "to_state"})

	rgdGraphBuildTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rgd_graph_build_total",
		Help: "Graph builds (validation and compilation) of a ResourceGraphDefinition.",
	}, []string{"name"})
	rgdGraphBuildDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "rgd_graph_build_duration_seconds",
		Help:    "Time a graph build of a ResourceGraphDefinition takes.",
		Buckets: durationBuckets,
	}, []string{"name"})
	rgdGraphBuildErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rgd_graph_build_errors_total",
		Help: "Graph builds of a ResourceGraphDefinition that failed (invalid graph, or a kind it needs is missing).",
	}, []string{"name"})
	rgdStateTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rgd_state_transitions_total",
		Help: "ResourceGraphDefinition status.state changes written (from is empty for a new RGD).",
	}, []string{"name", "from", "to"})

	dynReconcileTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamic_controller_reconcile_total",
		Help: "Items the dynamic (instance) controller's workers processed, per instance GVR.",
	}, []string{"gvr"})
	dynReconcileDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "dynamic_controller_reconcile_duration_seconds",
		Help:    "Time the dynamic (instance) controller's workers spend on one item, per instance GVR.",
		Buckets: durationBuckets,
	}, []string{"gvr"})
	dynReconcilePanics = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dynamic_controller_reconcile_panics_total",
		Help: "Instance reconciliations that panicked (recovered and retried), per instance GVR.",
	}, []string{"gvr"})
	dynQueueLength = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "dynamic_controller_queue_length",
		Help: "Items waiting in the dynamic (instance) controller's work queue.",
	}, func() float64 {
		if f := queueLength.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	})

	celEvalTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cel_expr_eval_total",
		Help: "CEL expression evaluations while reconciling instances.",
	})
	celEvalDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cel_expr_eval_duration_seconds",
		Help:    "Time one CEL expression evaluation takes.",
		Buckets: prometheus.DefBuckets,
	})
)

// queueLength reads the instance queue's length at scrape time, so the
// workers never update a gauge.
var queueLength atomic.Pointer[func() int]

func init() {
	crmetrics.Registry.MustRegister(
		instanceReconcileTotal, instanceReconcileDuration, instanceReconcileErrors, instanceStateTransitions,
		rgdGraphBuildTotal, rgdGraphBuildDuration, rgdGraphBuildErrors, rgdStateTransitions,
		dynReconcileTotal, dynReconcileDuration, dynReconcilePanics, dynQueueLength,
		celEvalTotal, celEvalDuration,
		awsRequests, awsRequestErrors,
	)
}

// SetQueueLength makes dynamic_controller_queue_length report f() (the
// instance controller's queue). The last caller wins.
func SetQueueLength(f func() int) { queueLength.Store(&f) }

// Instance holds the children of the instance and dynamic-controller
// families for one instance GVR.
type Instance struct {
	total    prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Observer
	dynTotal prometheus.Counter
	dynDur   prometheus.Observer
	panics   prometheus.Counter
}

var instances sync.Map // schema.GroupVersionResource -> *Instance

// ForGVR returns the metrics of one instance GVR. The first call per GVR
// resolves the labelled children; later calls are a map lookup.
func ForGVR(gvr schema.GroupVersionResource) *Instance {
	if m, ok := instances.Load(gvr); ok {
		return m.(*Instance)
	}
	l := gvr.String()
	m := &Instance{
		total:    instanceReconcileTotal.WithLabelValues(l),
		errors:   instanceReconcileErrors.WithLabelValues(l),
		duration: instanceReconcileDuration.WithLabelValues(l),
		dynTotal: dynReconcileTotal.WithLabelValues(l),
		dynDur:   dynReconcileDuration.WithLabelValues(l),
		panics:   dynReconcilePanics.WithLabelValues(l),
	}
	actual, _ := instances.LoadOrStore(gvr, m)
	return actual.(*Instance)
}

// Reconciled records one processed item: the instance reconcile and the
// dynamic controller's work item are the same here, so both families get
// the one measurement.
func (m *Instance) Reconciled(d time.Duration, err error) {
	s := d.Seconds()
	m.total.Inc()
	m.duration.Observe(s)
	m.dynTotal.Inc()
	m.dynDur.Observe(s)
	if err != nil {
		m.errors.Inc()
	}
}

// Panicked records a recovered panic.
func (m *Instance) Panicked() { m.panics.Inc() }

// StateTransition records a written change of status.state. kind is the
// instance's GroupVersionKind string, as kro labels this family.
func StateTransition(kind schema.GroupVersionKind, from, to string) {
	instanceStateTransitions.WithLabelValues(kind.String(), from, to).Inc()
}

// RGDGraphBuild records one graph build of the named RGD.
func RGDGraphBuild(name string, d time.Duration, err error) {
	rgdGraphBuildTotal.WithLabelValues(name).Inc()
	rgdGraphBuildDuration.WithLabelValues(name).Observe(d.Seconds())
	if err != nil {
		rgdGraphBuildErrors.WithLabelValues(name).Inc()
	}
}

// RGDStateTransition records a written change of an RGD's status.state.
func RGDStateTransition(name, from, to string) {
	rgdStateTransitions.WithLabelValues(name, from, to).Inc()
}

// CEL observes CEL evaluation durations; it implements the runtime
// package's EvalObserver, which times a sample of the evaluations (one in
// runtime.EvalSampleEvery), so cel_expr_eval_duration_seconds_count is that
// fraction of cel_expr_eval_total.
type CEL struct{}

// ObserveEval records the duration of one timed evaluation.
func (CEL) ObserveEval(d time.Duration) { celEvalDuration.Observe(d.Seconds()) }

// CELEvaluated adds n evaluations to cel_expr_eval_total.
func CELEvaluated(n int) {
	if n > 0 {
		celEvalTotal.Add(float64(n))
	}
}
