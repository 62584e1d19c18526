package bench_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/trellis-dev/trellis/pkg/bench"
	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

var (
	restartRGDs = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
	restartApps = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "benchapps"}
)

// restartN is enough instances that every worker has a queue to race
// through while the child informers are still listing.
const restartN = 100

// TestRestartWritesNothing brings restartN BenchApps to ACTIVE, restarts
// the controller manager and checks that the new one, once it has
// reconciled every instance and gone quiet, wrote nothing: no child, no
// instance status, no CRD of its own.
func TestRestartWritesNothing(t *testing.T) {
	env := testenv.Current(t)
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	dyn := dynamic.NewForConfigOrDie(env.Config)
	kube := kubernetes.NewForConfigOrDie(env.Config)
	ns := env.Namespace(t)

	stop := startManager(t, env, 8)
	var rgd unstructured.Unstructured
	if err := yaml.Unmarshal(bench.RGD, &rgd.Object); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(restartRGDs).Apply(ctx, rgd.GetName(), &rgd, metav1.ApplyOptions{FieldManager: "restart-test", Force: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < restartN; i++ {
		name := fmt.Sprintf("app-%03d", i)
		app := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kro.run/v1alpha1", "kind": "BenchApp",
			"metadata": map[string]any{"name": name, "namespace": ns},
			"spec":     map[string]any{"name": name},
		}}
		// The BenchApp CRD may not be served yet right after the RGD.
		for {
			_, err := dyn.Resource(restartApps).Namespace(ns).Create(ctx, app, metav1.CreateOptions{})
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("creating %s: %v", name, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitAllActive(ctx, t, dyn, ns)
	stop()
	// The namespaces of earlier tests are still being emptied by the
	// namespace controller; its deletes are not the restart's writes.
	waitNoTerminatingNamespaces(ctx, t, kube)

	before := apiRequests(ctx, t, kube)
	reconciledBefore := reconciles(t)
	stop = startManager(t, env, 8)
	defer stop()
	// Settled: every instance reconciled at least once by the new manager
	// and neither the reconcile count nor the API server's write counters
	// (but for leases and events) have moved for 5 s.
	var last bench.Requests
	var lastRec float64
	quietSince := time.Now()
	for {
		if ctx.Err() != nil {
			t.Fatalf("the new manager did not settle: %v reconciles", reconciles(t)-reconciledBefore)
		}
		time.Sleep(time.Second)
		now := apiRequests(ctx, t, kube).Sub(before).Mutating().Without("leases", "events")
		rec := reconciles(t) - reconciledBefore
		if rec != lastRec || !sameRequests(now, last) {
			last, lastRec, quietSince = now, rec, time.Now()
			continue
		}
		if rec >= restartN && time.Since(quietSince) >= 5*time.Second {
			break
		}
	}
	writes := apiRequests(ctx, t, kube).Sub(before).Mutating()
	rec := reconciles(t) - reconciledBefore
	t.Logf("after the restart: %v reconciles; writes: %v", rec, writes.Breakdown())
	// One reconcile per instance: the children's initial list does not
	// queue their instances again (it did: 8% more here, 36% at N=1000).
	if rec > restartN {
		t.Errorf("the restart reconciled %v times for %d instances", rec, restartN)
	}
	if w := writes.Resources("configmaps", "secrets", "serviceaccounts", "services"); w.Total() != 0 {
		t.Errorf("the restart wrote %v children: %v", w.Total(), w.Breakdown())
	}
	if w := writes.Resources("benchapps"); w.Total() != 0 {
		t.Errorf("the restart wrote %v instances: %v", w.Total(), w.Breakdown())
	}
	if w := writes.Resources("customresourcedefinitions"); w.Total() != 0 {
		t.Errorf("the restart wrote %v CRDs although none changed: %v", w.Total(), w.Breakdown())
	}
}

// startManager runs trellis's controllers in the test process and returns
// a function that stops them and waits until they have returned.
func startManager(t *testing.T, env *testenv.Env, workers int) func() {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// The second manager registers the same controller names again.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := operator.Setup(mgr, operator.Options{InstanceWorkers: workers, RGDWorkers: 2, InstallCRDs: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	stopped := false
	return func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
}

func waitAllActive(ctx context.Context, t *testing.T, dyn dynamic.Interface, ns string) {
	t.Helper()
	for {
		list, err := dyn.Resource(restartApps).Namespace(ns).List(ctx, metav1.ListOptions{})
		active := 0
		if err == nil {
			for _, u := range list.Items {
				if s, _, _ := unstructured.NestedString(u.Object, "status", "state"); s == "ACTIVE" {
					active++
				}
			}
			if active == restartN {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d instances ACTIVE (%v)", active, restartN, err)
		}
		time.Sleep(time.Second)
	}
}

func waitNoTerminatingNamespaces(ctx context.Context, t *testing.T, kube kubernetes.Interface) {
	t.Helper()
	for {
		list, err := kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		terminating := 0
		if err == nil {
			for _, ns := range list.Items {
				if ns.DeletionTimestamp != nil {
					terminating++
				}
			}
			if terminating == 0 {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("%d namespaces still terminating (%v)", terminating, err)
		}
		time.Sleep(time.Second)
	}
}

// apiRequests reads the API server's apiserver_request_total.
func apiRequests(ctx context.Context, t *testing.T, kube kubernetes.Interface) bench.Requests {
	t.Helper()
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	samples, err := bench.ParseMetric(strings.NewReader(string(raw)), "apiserver_request_total")
	if err != nil || len(samples) == 0 {
		t.Fatalf("apiserver_request_total: %d samples, %v", len(samples), err)
	}
	return bench.RequestsFromSamples(samples)
}

func sameRequests(a, b bench.Requests) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// reconciles is instance_reconcile_total for BenchApps in this process
// (the counter outlives a manager).
func reconciles(t *testing.T) float64 {
	t.Helper()
	fams, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range fams {
		if f.GetName() != "instance_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "gvr" && strings.Contains(l.GetValue(), "benchapps") {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
