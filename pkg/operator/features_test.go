package operator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

func gvr(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: resource}
}

func listChildren(t *testing.T, res schema.GroupVersionResource, ns, selector string) []unstructured.Unstructured {
	t.Helper()
	l, err := dyn.Resource(res).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func TestExternalRefAppearsLateAndGoes(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: ext-ref
spec:
  schema:
    apiVersion: v1alpha1
    kind: ExtRef
    spec:
      source: string
    status:
      echo: ${input.data.?ECHO_VALUE.orValue("none")}
  resources:
  - id: input
    externalRef:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.source}
  - id: output
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-out
      data:
        value: ${input.data.?ECHO_VALUE.orValue("none")}
`))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "ext-ref"), rgdActive)
	apply(t, gvr("extrefs"), parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: ExtRef
metadata: {name: e1, namespace: %s}
spec: {source: late}
`, ns)))
	eventually(t, 15*time.Second, "waiting for the external object", getter(gvr("extrefs"), ns, "e1"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "ResourcesReady")
		return str(u, "status", "state") == "IN_PROGRESS" && c != nil && strings.Contains(fmt.Sprint(c["message"]), "late")
	})
	// The object appears: the instance proceeds without being touched.
	apply(t, configMaps, parse(t, fmt.Sprintf(`
apiVersion: v1
kind: ConfigMap
metadata: {name: late, namespace: %s}
data: {ECHO_VALUE: hello}
`, ns)))
	eventually(t, 15*time.Second, "ACTIVE after the external object appeared", getter(gvr("extrefs"), ns, "e1"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE" && str(u, "status", "echo") == "hello"
	})
	// It changes: the change flows through.
	apply(t, configMaps, parse(t, fmt.Sprintf(`
apiVersion: v1
kind: ConfigMap
metadata: {name: late, namespace: %s}
data: {ECHO_VALUE: again}
`, ns)))
	eventually(t, 15*time.Second, "external change propagated", getter(configMaps, ns, "e1-out"), func(u *unstructured.Unstructured) bool {
		return str(u, "data", "value") == "again"
	})
	// It is deleted: the instance waits again; trellis never recreates it.
	if err := dyn.Resource(configMaps).Namespace(ns).Delete(context.Background(), "late", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "IN_PROGRESS after the external object went", getter(gvr("extrefs"), ns, "e1"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "IN_PROGRESS"
	})
	if items := listChildren(t, configMaps, ns, ""); len(items) != 2 { // kube-root-ca.crt + e1-out
		t.Errorf("configmaps = %d, want the output and kube-root-ca.crt only", len(items))
	}
}

func TestCollectionGrowsAndShrinks(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: collection
spec:
  schema:
    apiVersion: v1alpha1
    kind: Fleet
    spec:
      names: "[]string"
    status:
      count: ${size(workers)}
  resources:
  - id: workers
    forEach:
    - name: ${schema.spec.names}
    readyWhen:
    - ${each.metadata.name != ""}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-${name}
      data:
        who: ${name}
  - id: summary
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-summary
      data:
        count: ${string(size(workers))}
`))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "collection"), rgdActive)
	fleet := func(names ...string) *unstructured.Unstructured {
		list := make([]any, len(names))
		for i, n := range names {
			list[i] = n
		}
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kro.run/v1alpha1", "kind": "Fleet",
			"metadata": map[string]any{"name": "f", "namespace": ns},
			"spec":     map[string]any{"names": list},
		}}
	}
	sel := "kro.run/node-id=workers"
	for _, names := range [][]string{{"a", "b", "c"}, {"a", "b", "c", "d", "e"}, {}} {
		apply(t, gvr("fleets"), fleet(names...))
		want := len(names)
		eventually(t, 20*time.Second, fmt.Sprintf("ACTIVE with %d items", want), getter(gvr("fleets"), ns, "f"), func(u *unstructured.Unstructured) bool {
			n, _, _ := unstructured.NestedInt64(u.Object, "status", "count")
			return str(u, "status", "state") == "ACTIVE" && int(n) == want && len(listChildren(t, configMaps, ns, sel)) == want
		})
		summary, err := dyn.Resource(configMaps).Namespace(ns).Get(context.Background(), "f-summary", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := str(summary, "data", "count"); got != fmt.Sprint(want) {
			t.Errorf("summary count = %s, want %d", got, want)
		}
		for _, item := range listChildren(t, configMaps, ns, sel) {
			if item.GetLabels()["kro.run/collection-size"] != fmt.Sprint(want) {
				t.Errorf("%s: collection-size label %q, want %d", item.GetName(), item.GetLabels()["kro.run/collection-size"], want)
			}
		}
	}
}

func TestCollectionRejectsDuplicateItems(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: dup-collection
spec:
  schema:
    apiVersion: v1alpha1
    kind: DupFleet
    spec:
      names: "[]string"
  resources:
  - id: workers
    forEach:
    - name: ${schema.spec.names}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: w-${name}
`))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "dup-collection"), rgdActive)
	apply(t, gvr("dupfleets"), parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: DupFleet
metadata: {name: d, namespace: %s}
spec: {names: [x, x]}
`, ns)))
	eventually(t, 15*time.Second, "ERROR naming the duplicate", getter(gvr("dupfleets"), ns, "d"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "ResourcesReady")
		return str(u, "status", "state") == "ERROR" && c != nil && strings.Contains(fmt.Sprint(c["message"]), "workers") &&
			strings.Contains(fmt.Sprint(c["message"]), "w-x")
	})
}

func TestCustomConditions(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: custom-conditions
spec:
  schema:
    apiVersion: v1alpha1
    kind: Conditioned
    spec:
      value: string
    status:
      conditions:
      - '${runtime.newCondition({type: "ConfigReady", status: config.data.v == "ok" ? "True" : "False", reason: "Checked", message: "value is " + config.data.v})}'
      - '${runtime.newCondition({type: "Ready", status: runtime.condition(schema, "ResourcesReady").?status.orValue("Unknown")})}'
      - '${runtime.newCondition({type: "Strict", status: config.data.missing == "x" ? "True" : "False"})}'
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}
      data:
        v: ${schema.spec.value}
`))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "custom-conditions"), rgdActive)
	apply(t, gvr("conditioneds"), parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: Conditioned
metadata: {name: c, namespace: %s}
spec: {value: ok}
`, ns)))
	// The third expression reads a key that does not exist: the instance
	// says so (ERROR), and the conditions that did evaluate are kept.
	got := eventually(t, 15*time.Second, "custom conditions written", getter(gvr("conditioneds"), ns, "c"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "ConfigReady")
		return c != nil && c["status"] == "True"
	})
	if c := condition(got, "Ready"); c == nil || c["status"] != "True" {
		t.Errorf("Ready (mirroring the built-in ResourcesReady) = %v; status %v", c, got.Object["status"])
	}
	if condition(got, "InstanceManaged") != nil {
		t.Errorf("built-in conditions must not be written when the author defines conditions")
	}
	if c := condition(got, "GraphResolved"); str(got, "status", "state") != "ERROR" || c == nil || !strings.Contains(fmt.Sprint(c["message"]), "status.conditions[2]") {
		t.Errorf("failing condition expression: state %q, GraphResolved %v", str(got, "status", "state"), c)
	}
}

func TestSuspendAndResume(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	rgd := load(t, "testdata/benchapp-rgd.yaml")
	applyRGD(t, rgd)
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", rgd.GetName()), rgdActive)
	inst := benchInstance(ns, "sus")
	apply(t, benchApps, inst)
	eventually(t, 30*time.Second, "ACTIVE", getter(benchApps, ns, "sus"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE"
	})
	inst.SetAnnotations(map[string]string{"kro.run/reconcile": "suspended"})
	apply(t, benchApps, inst)
	eventually(t, 15*time.Second, "suspended", getter(benchApps, ns, "sus"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "ResourcesReady")
		return c != nil && c["reason"] == "ReconciliationSuspended"
	})
	// Drift while suspended stays: a deleted child is not recreated, an edit
	// is not reverted, a spec change is not applied.
	if err := dyn.Resource(secrets).Namespace(ns).Delete(context.Background(), "sus-secret", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, configMaps, ns, "sus-config", func(u *unstructured.Unstructured) {
		u.Object["data"].(map[string]any)["ENV"] = "tampered"
	})
	inst.Object["spec"].(map[string]any)["port"] = int64(9090)
	apply(t, benchApps, inst)
	time.Sleep(2 * time.Second) // nothing may happen; give the controller time to misbehave
	if _, err := dyn.Resource(secrets).Namespace(ns).Get(context.Background(), "sus-secret", metav1.GetOptions{}); err == nil {
		t.Fatal("secret recreated while suspended")
	}
	if cm := mustGet(t, configMaps, ns, "sus-config"); str(cm, "data", "ENV") != "tampered" {
		t.Fatal("configmap reverted while suspended")
	}
	// Resume: all accumulated drift is repaired and the spec change lands.
	inst.SetAnnotations(nil)
	mustUpdate(t, benchApps, ns, "sus", func(u *unstructured.Unstructured) {
		a := u.GetAnnotations()
		delete(a, "kro.run/reconcile")
		u.SetAnnotations(a)
	})
	eventually(t, 15*time.Second, "secret back", getter(secrets, ns, "sus-secret"), func(*unstructured.Unstructured) bool { return true })
	eventually(t, 15*time.Second, "config repaired with the new port", getter(configMaps, ns, "sus-config"), func(u *unstructured.Unstructured) bool {
		return str(u, "data", "ENV") == "dev" && str(u, "data", "PORT") == "9090"
	})
	eventually(t, 15*time.Second, "ACTIVE again", getter(benchApps, ns, "sus"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE" && condition(u, "ResourcesReady")["reason"] == "AllResourcesReady"
	})
}

func TestRGDDeletionWaitsForInstances(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, configMapRGD(t, "guarded", "Guarded"))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "guarded"), rgdActive)
	guarded := gvr("guardeds")
	for _, name := range []string{"g1", "g2"} {
		apply(t, guarded, parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: Guarded\nmetadata: {name: %s, namespace: %s}\n", name, ns)))
		eventually(t, 15*time.Second, name+" ACTIVE", getter(guarded, ns, name), func(u *unstructured.Unstructured) bool {
			return str(u, "status", "state") == "ACTIVE"
		})
	}
	// Deleting the RGD waits for the instances and says why.
	if err := dyn.Resource(rgdGVR).Delete(context.Background(), "guarded", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "deletion blocked", getter(rgdGVR, "", "guarded"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "Ready")
		return str(u, "status", "state") == "DeletionBlocked" &&
			c != nil && c["reason"] == "DeletionBlocked" && strings.Contains(fmt.Sprint(c["message"]), "2 instance(s) of Guarded")
	})
	// An instance created while the deletion is pending is flagged, not
	// reconciled, and counted at once.
	time.Sleep(1100 * time.Millisecond) // creationTimestamp has a resolution of one second
	apply(t, guarded, parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: Guarded\nmetadata: {name: g3, namespace: %s}\n", ns)))
	eventually(t, 15*time.Second, "g3 flagged", getter(guarded, ns, "g3"), func(u *unstructured.Unstructured) bool {
		m := condition(u, "InstanceManaged")
		return str(u, "status", "state") == "ERROR" && m != nil && m["reason"] == "ResourceGraphDefinitionDeleting"
	})
	if _, err := dyn.Resource(configMaps).Namespace(ns).Get(context.Background(), "g3-cm", metav1.GetOptions{}); err == nil {
		t.Error("a child was created for an instance created during the RGD's deletion")
	}
	eventually(t, 5*time.Second, "count 3", getter(rgdGVR, "", "guarded"), func(u *unstructured.Unstructured) bool {
		return strings.Contains(fmt.Sprint(condition(u, "Ready")["message"]), "3 instance(s) of Guarded")
	})
	if err := dyn.Resource(guarded).Namespace(ns).Delete(context.Background(), "g3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone(t, 15*time.Second, guarded, ns, "g3")
	if err := dyn.Resource(guarded).Namespace(ns).Delete(context.Background(), "g1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone(t, 15*time.Second, guarded, ns, "g1")
	gone(t, 5*time.Second, configMaps, ns, "g1-cm")
	// Orphaning on request: the RGD goes, the remaining instance stays and
	// can still be deleted, children first.
	mustUpdate(t, rgdGVR, "", "guarded", func(u *unstructured.Unstructured) {
		u.SetAnnotations(map[string]string{"trellis.dev/orphan-instances": "true"})
	})
	gone(t, 15*time.Second, rgdGVR, "", "guarded")
	if _, err := dyn.Resource(guarded).Namespace(ns).Get(context.Background(), "g2", metav1.GetOptions{}); err != nil {
		t.Fatalf("orphaned instance: %v", err)
	}
	// The orphan says so: not ACTIVE, not "properly managed".
	eventually(t, 15*time.Second, "g2 ORPHANED", getter(guarded, ns, "g2"), func(u *unstructured.Unstructured) bool {
		m, r := condition(u, "InstanceManaged"), condition(u, "Ready")
		return str(u, "status", "state") == "ORPHANED" &&
			m != nil && m["status"] == "False" && m["reason"] == "Orphaned" && strings.Contains(fmt.Sprint(m["message"]), "guarded") &&
			r != nil && r["status"] == "False" && r["reason"] == "Orphaned"
	})
	if err := dyn.Resource(guarded).Namespace(ns).Delete(context.Background(), "g2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone(t, 15*time.Second, guarded, ns, "g2")
	gone(t, 5*time.Second, configMaps, ns, "g2-cm")
}

// A collection at kro's default limit (1000 items) reconciles to ACTIVE.
// The time is reported, not asserted; the benchmark tracks it.
func TestCollectionOfAThousand(t *testing.T) {
	setup(t)
	if testing.Short() {
		t.Skip("creates 1000 objects")
	}
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: thousand
spec:
  schema:
    apiVersion: v1alpha1
    kind: Thousand
    spec:
      count: integer | default=1000
  resources:
  - id: entries
    forEach:
    - i: ${lists.range(schema.spec.count)}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-${string(i)}
      data:
        index: ${string(i)}
`))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "thousand"), rgdActive)
	start := time.Now()
	apply(t, gvr("thousands"), parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: Thousand\nmetadata: {name: k, namespace: %s}\nspec: {}\n", ns)))
	eventually(t, 5*time.Minute, "1000 items ACTIVE", getter(gvr("thousands"), ns, "k"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE"
	})
	t.Logf("collection of 1000 items ACTIVE %s after the instance was created", time.Since(start).Round(10*time.Millisecond))
	if got := len(listChildren(t, configMaps, ns, "kro.run/node-id=entries")); got != 1000 {
		t.Fatalf("%d items, want 1000", got)
	}
}

func TestClusterScopedInstances(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: cluster-scoped
spec:
  schema:
    apiVersion: v1alpha1
    kind: Tenant
    scope: Cluster
    spec:
      owner: string
    status:
      configName: ${config.metadata.name}
  resources:
  - id: config
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: tenant-${schema.metadata.name}
        namespace: %s
      data:
        owner: ${schema.spec.owner}
`, ns)))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "cluster-scoped"), rgdActive)
	tenants := gvr("tenants")
	apply(t, tenants, parse(t, "apiVersion: kro.run/v1alpha1\nkind: Tenant\nmetadata: {name: acme}\nspec: {owner: alice}\n"))
	eventually(t, 15*time.Second, "tenant ACTIVE", getter(tenants, "", "acme"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE" && str(u, "status", "configName") == "tenant-acme"
	})
	cm := mustGet(t, configMaps, ns, "tenant-acme")
	if _, has := cm.GetLabels()["kro.run/instance-namespace"]; has || str(cm, "data", "owner") != "alice" {
		t.Errorf("child of a cluster-scoped instance: labels %v data %v", cm.GetLabels(), cm.Object["data"])
	}
	if err := dyn.Resource(tenants).Delete(context.Background(), "acme", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone(t, 15*time.Second, tenants, "", "acme")
	gone(t, 5*time.Second, configMaps, ns, "tenant-acme")
}

func TestBreakingSchemaChangesNeedConsent(t *testing.T) {
	setup(t)
	rgd := parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: breaking
spec:
  schema:
    apiVersion: v1alpha1
    kind: Breaking
    spec:
      size: integer | default=1
`)
	applyRGD(t, rgd)
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "breaking"), rgdActive)
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	_ = unstructured.SetNestedField(rgd.Object, "string", "spec", "schema", "spec", "size")
	apply(t, rgdGVR, rgd)
	eventually(t, 15*time.Second, "breaking change refused", getter(rgdGVR, "", "breaking"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "KindReady")
		return c != nil && c["status"] == "False" && strings.Contains(fmt.Sprint(c["message"]), "spec.size") &&
			strings.Contains(fmt.Sprint(c["message"]), "kro.run/allow-breaking-changes")
	})
	typeOf := func() string {
		c := mustGet(t, crds, "", "breakings.kro.run")
		versions, _, _ := unstructured.NestedSlice(c.Object, "spec", "versions")
		s, _, _ := unstructured.NestedString(versions[0].(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties", "size", "type")
		return s
	}
	if got := typeOf(); got != "integer" {
		t.Fatalf("CRD changed although refused: size is %s", got)
	}
	rgd.SetAnnotations(map[string]string{"kro.run/allow-breaking-changes": "true"})
	apply(t, rgdGVR, rgd)
	eventually(t, 15*time.Second, "RGD Active with consent", getter(rgdGVR, "", "breaking"), rgdActive)
	if got := typeOf(); got != "string" {
		t.Fatalf("CRD not updated with consent: size is %s", got)
	}
}
