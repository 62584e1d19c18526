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

	"github.com/trellis-dev/trellis/pkg/crd"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// Deletion cases that left kro stuck or broke other objects. (#557, a
// resource removed from the RGD is pruned from existing instances, is
// TestRGDUpdatesAndRevisions.)

func deleteObj(t *testing.T, res schema.GroupVersionResource, ns, name string) {
	t.Helper()
	if err := dyn.Resource(res).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete %s %s/%s: %v", res.Resource, ns, name, err)
	}
}

// kro#1316: the external reference is deleted while the instance still
// uses it; deleting the instance afterwards still completes and removes
// its own children (and never touches the external object's name).
func TestDeleteInstanceAfterExternalRefIsGone(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: ext-gone}
spec:
  schema: {apiVersion: v1alpha1, kind: ExtGone, spec: {}}
  resources:
  - id: shared
    externalRef: {apiVersion: v1, kind: ConfigMap, metadata: {name: shared-config}}
  - id: out
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-out"}
      data: {v: "${shared.data.v}"}
`))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "ext-gone"), rgdActive)
	apply(t, configMaps, parse(t, fmt.Sprintf("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: shared-config, namespace: %s}\ndata: {v: x}\n", ns)))
	res := gvr(crd.Plural("ExtGone"))
	applyInstance(t, res, parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: ExtGone\nmetadata: {name: e, namespace: %s}\nspec: {}\n", ns)))
	eventually(t, 30*time.Second, "instance ACTIVE", getter(res, ns, "e"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE"
	})
	deleteObj(t, configMaps, ns, "shared-config")
	deleteObj(t, res, ns, "e")
	gone(t, 30*time.Second, res, ns, "e")
	gone(t, 30*time.Second, configMaps, ns, "e-out")
}

// kro#483: an instance whose creation never completed (one child created,
// the next refused by the API server) is deleted: the created child goes,
// and the finalizer is released although the graph never got through.
func TestDeleteInstanceWhoseCreationNeverCompleted(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: half-made}
spec:
  schema: {apiVersion: v1alpha1, kind: HalfMade, spec: {second: string}}
  resources:
  - id: first
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.metadata.name}-first"}}
  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.spec.second}"}
      data: {after: "${first.metadata.name}"}
`))
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "half-made"), rgdActive)
	res := gvr(crd.Plural("HalfMade"))
	applyInstance(t, res, parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: HalfMade\nmetadata: {name: h, namespace: %s}\nspec: {second: Not_A_Valid_Name}\n", ns)))
	eventually(t, 30*time.Second, "instance ERROR", getter(res, ns, "h"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ERROR"
	})
	if _, err := dyn.Resource(configMaps).Namespace(ns).Get(context.Background(), "h-first", metav1.GetOptions{}); err != nil {
		t.Fatalf("the first child was not created: %v", err)
	}
	deleteObj(t, res, ns, "h")
	gone(t, 30*time.Second, res, ns, "h")
	gone(t, 30*time.Second, configMaps, ns, "h-first")
}

// kro#1169: a second RGD for a kind another RGD already serves is
// rejected; deleting the rejected one must leave the kind, its CRD and the
// active RGD's instances working.
func TestDeletingARejectedDuplicateRGDLeavesTheActiveOne(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	applyRGD(t, configMapRGD(t, "dup-first", "DupKind"))
	eventually(t, 30*time.Second, "first RGD Active", getter(rgdGVR, "", "dup-first"), rgdActive)
	res := gvr(crd.Plural("DupKind"))
	instance := func(name string) *unstructured.Unstructured {
		return parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: DupKind\nmetadata: {name: %s, namespace: %s}\nspec: {}\n", name, ns))
	}
	active := func(u *unstructured.Unstructured) bool { return str(u, "status", "state") == "ACTIVE" }
	applyInstance(t, res, instance("before"))
	eventually(t, 30*time.Second, "instance ACTIVE", getter(res, ns, "before"), active)

	// Instances of the kind exist, but they are not the duplicate's: its
	// deletion neither waits for them nor marks the kind as deleting.
	apply(t, rgdGVR, configMapRGD(t, "dup-second", "DupKind"))
	got := eventually(t, 30*time.Second, "duplicate RGD rejected", getter(rgdGVR, "", "dup-second"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "Inactive"
	})
	t.Logf("duplicate's conditions: %v", got.Object["status"])
	deleteObj(t, rgdGVR, "", "dup-second")
	gone(t, 30*time.Second, rgdGVR, "", "dup-second")

	// The first RGD still serves its kind: Active, the CRD is there, an
	// existing instance is still repaired and a new one reconciled.
	eventually(t, 30*time.Second, "first RGD still Active", getter(rgdGVR, "", "dup-first"), rgdActive)
	deleteObj(t, configMaps, ns, "before-cm")
	eventually(t, 30*time.Second, "deleted child recreated", getter(configMaps, ns, "before-cm"), func(*unstructured.Unstructured) bool { return true })
	applyInstance(t, res, instance("after"))
	u := eventually(t, 30*time.Second, "new instance ACTIVE", getter(res, ns, "after"), active)
	if state := str(u, "status", "state"); strings.Contains(state, "ORPHAN") {
		t.Errorf("instance of the active RGD is %s", state)
	}
	eventually(t, 30*time.Second, "old instance still ACTIVE", getter(res, ns, "before"), active)
}
