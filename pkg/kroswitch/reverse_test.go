package kroswitch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// TestSwitchBackToKro: trellis manages the fixture; trellis stops and kro
// v0.9.4 starts on the same cluster (with the CRDs trellis generated). kro
// refuses to update those CRDs on its own (its breaking-change check:
// trellis's have status.graphRevision and type metav1.Time fields as
// date-time strings, kro's have neither), so the switch back takes one step,
// the README's: annotate every RGD with kro.run/allow-breaking-changes.
// Then kro rewrites the CRDs to its own shape, adopts every child in place
// (no child created or deleted, same uids), keeps the instances ACTIVE,
// serves a new instance (stamped by trellis's admission policy, which stays)
// and deletes an instance's children as before.
func TestSwitchBackToKro(t *testing.T) {
	env := testenv.Current(t)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	ns := env.Namespace(t)

	tr := startTrellis(t, env)
	f := createFixture(t, dyn, ns, 5)
	f.waitActive(t, dyn, true)
	children := childUIDs(t, dyn, ns)
	revs := revisionsByRGD(t, dyn)
	tr.stop()

	// What kro would refuse, as its check would see it.
	for _, name := range fixtureCRDs {
		if p := crdStatusProperties(t, dyn, name); p["graphRevision"] == nil {
			t.Fatalf("CRD %s: trellis generated no status.graphRevision (the reason this step exists)", name)
		}
	}
	// The step: let kro replace the CRDs' schema with its own.
	for _, name := range f.rgds {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, v1alpha1.AllowBreakingChangesAnnotation)
		if _, err := dyn.Resource(rgds).Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	events := watchChildren(t, dyn, ns)
	sampler := sampleStates(dyn, ns, f.kinds()...)
	env.StartKro(t)
	f.deleteAtEnd(t, dyn)
	// kro has reconciled an instance once each child carries kro's ApplySet label.
	for _, gvr := range childKinds {
		waitList(t, dyn, 5*time.Minute, gvr, ns, func(items []unstructured.Unstructured) string {
			for _, u := range items {
				if u.GetLabels()["kro.run/owned"] != "true" {
					continue
				}
				if _, ok := u.GetLabels()["applyset.kubernetes.io/part-of"]; !ok {
					return fmt.Sprintf("%s has no ApplySet label yet", u.GetName())
				}
			}
			return ""
		})
	}
	// ... and the instance itself carries its ApplySet id: kro v0.9.4
	// refuses to delete an instance without it ("validate deletion
	// inventory: invalid applyset.kubernetes.io/id label"), so one deleted
	// before kro's first reconcile would keep its finalizer (README).
	for _, gvr := range f.kinds() {
		waitList(t, dyn, 5*time.Minute, gvr, ns, func(items []unstructured.Unstructured) string {
			for _, u := range items {
				if u.GetLabels()["applyset.kubernetes.io/id"] == "" {
					return fmt.Sprintf("%s has no applyset.kubernetes.io/id label yet", u.GetName())
				}
			}
			return ""
		})
	}
	f.waitActive(t, dyn, false)
	// kro's shape now: no status.graphRevision (the API server prunes it
	// from each instance at its next status write).
	for _, name := range fixtureCRDs {
		waitCRD(t, dyn, name, func(status map[string]any) bool { return status["graphRevision"] == nil })
	}
	samples, notActive := sampler.stop()
	if len(notActive) > 0 {
		// kro's own first reconcile may pass through IN_PROGRESS: reported, not held against it.
		t.Logf("kro showed these states during its takeover (%d samples): %s", samples, strings.Join(notActive, ", "))
	}
	if ev := events.seen(); len(ev) > 0 {
		t.Errorf("children created or deleted when kro took over: %s", strings.Join(ev, ", "))
	}
	after := childUIDs(t, dyn, ns)
	for k, uid := range children {
		if after[k] != uid {
			t.Errorf("child %s: uid %s under trellis, %q under kro", k, uid, after[k])
		}
	}
	events.stop()
	// kro hashes a revision's snapshot, not its label: it should read
	// trellis's revisions as its own. Reported for the README, not held
	// against kro.
	if got := revisionsByRGD(t, dyn); fmt.Sprint(got) != fmt.Sprint(revs) {
		t.Logf("kro changed the GraphRevisions:\n before %v\n after  %v", revs, got)
	}

	// A new instance under kro: trellis's admission policy (owned by the
	// RGD, so still there) stamps it at creation; kro serves it anyway.
	apply(t, dyn, benchApps, parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: BenchApp
metadata: {name: after-switch, namespace: %s}
spec: {name: after-switch}
`, ns)))
	f.counts[benchApps]++
	f.waitActive(t, dyn, false)
	u, err := dyn.Resource(benchApps).Namespace(ns).Get(context.Background(), "after-switch", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("an instance created under kro: labels %v, annotations %v, finalizers %v", u.GetLabels(), u.GetAnnotations(), u.GetFinalizers())
	policies, err := dyn.Resource(admissionPolicies).List(context.Background(), metav1.ListOptions{LabelSelector: "kro.run/resource-graph-definition-name=benchapps.kro.run"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range policies.Items {
		t.Logf("trellis's admission policy %s is still there (owned by the RGD)", p.GetName())
	}

	// kro deletes what trellis made, as it deletes its own.
	ctx := context.Background()
	if err := dyn.Resource(benchApps).Namespace(ns).Delete(ctx, "app-000", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitList(t, dyn, 2*time.Minute, configMaps, ns, func(items []unstructured.Unstructured) string {
		for _, u := range items {
			if strings.HasPrefix(u.GetName(), "app-000-") {
				return u.GetName() + " still exists"
			}
		}
		return ""
	})
}

var (
	crdsGVR           = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	admissionPolicies = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingadmissionpolicies"}
)

// crdStatusProperties returns the status properties of a generated CRD's only version.
func crdStatusProperties(t *testing.T, dyn dynamic.Interface, name string) map[string]any {
	t.Helper()
	u, err := dyn.Resource(crdsGVR).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return statusProperties(u)
}

func statusProperties(u *unstructured.Unstructured) map[string]any {
	versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
	if len(versions) != 1 {
		return nil
	}
	p, _, _ := unstructured.NestedMap(versions[0].(map[string]any), "schema", "openAPIV3Schema", "properties", "status", "properties")
	return p
}

// waitCRD waits until cond holds for a CRD's status properties.
func waitCRD(t *testing.T, dyn dynamic.Interface, name string, cond func(map[string]any) bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(crdsGVR).Get(ctx, name, metav1.GetOptions{})
		return err == nil && cond(statusProperties(u)), nil
	})
	if err != nil {
		t.Fatalf("CRD %s: not rewritten by kro: %v", name, err)
	}
}
