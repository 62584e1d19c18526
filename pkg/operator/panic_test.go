package operator_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/trellis-dev/trellis/pkg/controller/instance"
	"github.com/trellis-dev/trellis/pkg/crd"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// TestReconcilePanicsAreContained covers kro#1310 and #878 (a panic in one
// reconcile restarts kro's whole controller): panics injected into one
// instance's reconcile and into its children's syncs (which run on
// goroutines of their own) leave the process, the RGD's other instances and
// other RGDs working; they are counted in
// dynamic_controller_reconcile_panics_total and shown on the instance.
func TestReconcilePanicsAreContained(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: panicky}
spec:
  schema: {apiVersion: v1alpha1, kind: Panicky, spec: {}}
  resources:
  - id: a
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.metadata.name}-a"}}
  - id: b
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.metadata.name}-b"}}
`))
	applyRGD(t, configMapRGD(t, "calm", "Calm"))
	for _, name := range []string{"panicky", "calm"} {
		eventually(t, 30*time.Second, name+" Active", getter(rgdGVR, "", name), rgdActive)
	}

	// Instance "child-panic" panics in every child sync, "instance-panic"
	// before its reconcile starts; "fine" never does.
	instance.SetFaultHook(func(namespace, name, id string) {
		if namespace != ns {
			return
		}
		switch {
		case name == "child-panic" && id != "":
			panic("injected: child " + id)
		case name == "instance-panic" && id == "":
			panic("injected: instance")
		}
	})
	t.Cleanup(func() { instance.SetFaultHook(nil) })

	panickies, calms := gvr(crd.Plural("Panicky")), gvr(crd.Plural("Calm"))
	inst := func(kind, name string) *unstructured.Unstructured {
		return parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: %s\nmetadata: {name: %s, namespace: %s}\nspec: {}\n", kind, name, ns))
	}
	for _, name := range []string{"child-panic", "instance-panic", "fine"} {
		applyInstance(t, panickies, inst("Panicky", name))
	}
	applyInstance(t, calms, inst("Calm", "calm-one"))

	active := func(u *unstructured.Unstructured) bool { return str(u, "status", "state") == "ACTIVE" }
	eventually(t, 30*time.Second, "fine ACTIVE", getter(panickies, ns, "fine"), active)
	eventually(t, 30*time.Second, "calm-one ACTIVE", getter(calms, ns, "calm-one"), active)
	panicked := func(msg string) func(*unstructured.Unstructured) bool {
		return func(u *unstructured.Unstructured) bool {
			c := condition(u, "ResourcesReady")
			return str(u, "status", "state") == "ERROR" && c != nil && c["status"] == "False" &&
				strings.Contains(fmt.Sprint(c["message"]), msg)
		}
	}
	eventually(t, 30*time.Second, "child-panic shows the panic", getter(panickies, ns, "child-panic"), panicked("injected: child"))
	u := eventually(t, 30*time.Second, "instance-panic shows the panic", getter(panickies, ns, "instance-panic"), panicked("injected: instance"))
	if c := condition(u, "ResourcesReady"); c["reason"] != instance.ReasonReconcilePanic {
		t.Errorf("ResourcesReady reason %v, want %s", c["reason"], instance.ReasonReconcilePanic)
	}

	m := sample(scrape(t), "dynamic_controller_reconcile_panics_total", map[string]string{"gvr": panickies.String()})
	if m == nil || m.GetCounter().GetValue() < 3 { // two children and the instance, at least once each
		t.Errorf("dynamic_controller_reconcile_panics_total{gvr=%s} = %v, want >= 3", panickies, m)
	}

	// Once the fault is gone, the retries (with backoff) bring both to ACTIVE.
	instance.SetFaultHook(nil)
	eventually(t, 60*time.Second, "child-panic recovers", getter(panickies, ns, "child-panic"), active)
	eventually(t, 60*time.Second, "instance-panic recovers", getter(panickies, ns, "instance-panic"), active)
}
