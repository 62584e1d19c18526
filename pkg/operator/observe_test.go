package operator_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

// metricsAddr is where the running controller serves /metrics.
var metricsAddr string

// freeAddr returns a free local address for the metrics server.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// scrape reads the controller's /metrics over HTTP.
func scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func labelMap(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// sample finds the sample of family name whose labels include want.
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		l := labelMap(m)
		for k, v := range want {
			if l[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// waitEvent waits for an Event on the object named name (uid, if set) with
// the given type and reason, and returns it.
func waitEvent(t *testing.T, kube kubernetes.Interface, ns, name, typ, reason string) corev1.Event {
	t.Helper()
	var found corev1.Event
	var seen []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return false, nil
		}
		seen = seen[:0]
		for _, e := range list.Items {
			seen = append(seen, e.Type+"/"+e.Reason+": "+e.Message)
			if e.Type == typ && e.Reason == reason && e.Source.Component == "trellis" {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no %s event %q on %s/%s; events: %v", typ, reason, ns, name, seen)
	}
	return found
}

// applyInstance applies, retrying while the API server does not serve the
// generated kind yet (it can 404 for a moment after the CRD changes).
func applyInstance(t *testing.T, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = dyn.Resource(gvr).Namespace(u.GetNamespace()).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "test", Force: true})
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), last)
	}
}

// The controller serves kro's metric families with kro's labels next to
// controller-runtime's, and emits Events: instance ACTIVE, a child error,
// RGD accepted and rejected.
func TestMetricsAndEvents(t *testing.T) {
	env := setup(t)
	kube := kubernetes.NewForConfigOrDie(env.Config)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: observed
spec:
  schema:
    apiVersion: v1alpha1
    kind: Observed
    spec:
      configName: string
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.configName}
      data:
        owner: ${schema.metadata.name}
`))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "observed"), rgdActive)
	waitEvent(t, kube, "default", "observed", corev1.EventTypeNormal, "GraphAccepted")

	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "observeds"}
	instance := func(name, configName string) *unstructured.Unstructured {
		return parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: Observed\nmetadata: {name: %s, namespace: %s}\nspec: {configName: %s}\n", name, ns, configName))
	}
	applyInstance(t, gvr, instance("good", "good-config"))
	eventually(t, 30*time.Second, "instance ACTIVE", getter(gvr, ns, "good"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE"
	})
	ev := waitEvent(t, kube, ns, "good", corev1.EventTypeNormal, "Active")
	if ev.InvolvedObject.Kind != "Observed" || ev.InvolvedObject.APIVersion != "kro.run/v1alpha1" || ev.InvolvedObject.UID == "" {
		t.Errorf("event's object: %+v", ev.InvolvedObject)
	}

	// A child the API server refuses (invalid name): ERROR and a Warning
	// that says why.
	applyInstance(t, gvr, instance("bad", "Not_A_Valid_Name"))
	eventually(t, 30*time.Second, "instance ERROR", getter(gvr, ns, "bad"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ERROR"
	})
	ev = waitEvent(t, kube, ns, "bad", corev1.EventTypeWarning, "Error")
	if !strings.Contains(ev.Message, "ConfigMap") || !strings.Contains(ev.Message, "Not_A_Valid_Name") {
		t.Errorf("error event message %q does not name the child", ev.Message)
	}

	// A rejected RGD: a Warning with the rejection's reason and message.
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: observed-bad
spec:
  schema:
    apiVersion: v1alpha1
    kind: ObservedBad
    spec: {}
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: x
      bogus: 1
`))
	ev = waitEvent(t, kube, "default", "observed-bad", corev1.EventTypeWarning, "InvalidResourceGraph")
	if !strings.Contains(ev.Message, "bogus") {
		t.Errorf("rejection event message %q does not say why", ev.Message)
	}

	// /metrics of the running controller: kro's families with kro's labels
	// (next to controller-runtime's own).
	fams := scrape(t)
	gvrLabel := gvr.String()
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"instance_reconcile_total", map[string]string{"gvr": gvrLabel}},
		{"instance_reconcile_duration_seconds", map[string]string{"gvr": gvrLabel}},
		{"instance_reconcile_errors_total", map[string]string{"gvr": gvrLabel}},
		{"instance_state_transitions_total", map[string]string{"gvr": "kro.run/v1alpha1, Kind=Observed", "to_state": "ACTIVE"}},
		{"instance_state_transitions_total", map[string]string{"gvr": "kro.run/v1alpha1, Kind=Observed", "to_state": "ERROR"}},
		{"rgd_graph_build_total", map[string]string{"name": "observed"}},
		{"rgd_graph_build_duration_seconds", map[string]string{"name": "observed"}},
		{"rgd_graph_build_errors_total", map[string]string{"name": "observed-bad"}},
		{"rgd_state_transitions_total", map[string]string{"name": "observed", "to": "Active"}},
		{"dynamic_controller_reconcile_total", map[string]string{"gvr": gvrLabel}},
		{"dynamic_controller_reconcile_duration_seconds", map[string]string{"gvr": gvrLabel}},
		{"dynamic_controller_queue_length", nil},
		{"cel_expr_eval_total", nil},
		{"cel_expr_eval_duration_seconds", nil},
		{"controller_runtime_reconcile_total", map[string]string{"controller": "resourcegraphdefinition", "result": "success"}},
		{"workqueue_adds_total", map[string]string{"name": "instances"}},
	} {
		m := sample(fams, c.name, c.labels)
		if m == nil {
			t.Errorf("/metrics has no %s%v", c.name, c.labels)
			continue
		}
		if h := m.GetHistogram(); h != nil && h.GetSampleCount() == 0 {
			t.Errorf("%s%v observed nothing", c.name, c.labels)
		}
		if ctr := m.GetCounter(); ctr != nil && ctr.GetValue() == 0 {
			t.Errorf("%s%v is 0", c.name, c.labels)
		}
	}
	// Resolved with the GVR's other children, so it is there, at 0.
	if m := sample(fams, "dynamic_controller_reconcile_panics_total", map[string]string{"gvr": gvrLabel}); m == nil || m.GetCounter().GetValue() != 0 {
		t.Errorf("dynamic_controller_reconcile_panics_total for %s: %v", gvrLabel, m)
	}
}
