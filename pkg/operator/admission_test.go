package operator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	admv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trellis-dev/trellis/pkg/admission"
)

// metadataPatchedBy reports whether manager wrote the instance's metadata
// with an Update (the controller's fallback patch), as opposed to the
// metadata having been stamped at admission.
func metadataPatchedBy(u *unstructured.Unstructured, manager string) bool {
	for _, mf := range u.GetManagedFields() {
		if mf.Manager == manager && mf.Operation == metav1.ManagedFieldsOperationUpdate && mf.Subresource == "" {
			return true
		}
	}
	return false
}

// New instances are stamped with finalizer, labels and inventory by the
// RGD's MutatingAdmissionPolicy, so the controller writes no metadata; when
// the policy is missing the controller patches them in itself.
func TestAdmissionPolicyStampsNewInstances(t *testing.T) {
	env := setup(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	applyRGD(t, configMapRGD(t, "stamped", "Stamped"))
	rgd := eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "stamped"), rgdActive)
	stamped := gvr("stampeds")
	instance := func(name string) *unstructured.Unstructured {
		return parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: Stamped
metadata:
  name: %s
  namespace: %s
  labels: {team: blue}
  finalizers: [example.com/keep]
`, name, ns))
	}
	// The API server picks the policy up shortly after it is written: probe
	// with dry-run creates until one comes back stamped.
	var probe *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		probe, err = dyn.Resource(stamped).Namespace(ns).Create(ctx, instance("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err
		}
		return contains(probe.GetFinalizers(), "kro.run/finalizer"), nil
	})
	if err != nil {
		t.Fatalf("no dry-run create came back stamped: %v (last: finalizers %v labels %v)", err, probe.GetFinalizers(), probe.GetLabels())
	}
	want := map[string]string{
		"team":                                   "blue",
		"kro.run/owned":                          "true",
		"kro.run/resource-graph-definition-name": "stamped",
		"kro.run/resource-graph-definition-id":   string(rgd.GetUID()),
	}
	for k, v := range want {
		if got := probe.GetLabels()[k]; got != v {
			t.Errorf("stamped label %s = %q, want %q (labels %v)", k, got, v, probe.GetLabels())
		}
	}
	if got := probe.GetFinalizers(); len(got) != 2 || got[0] != "example.com/keep" {
		t.Errorf("finalizers = %v, want the user's kept and kro.run/finalizer added", got)
	}
	if got := probe.GetAnnotations()["trellis.dev/child-resources"]; got != "configmaps.v1." {
		t.Errorf("inventory annotation = %q", got)
	}

	// A real instance: stamped at creation, so the controller never writes
	// its metadata.
	created, err := dyn.Resource(stamped).Namespace(ns).Create(ctx, instance("s1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !contains(created.GetFinalizers(), "kro.run/finalizer") {
		t.Fatalf("create response not stamped: finalizers %v", created.GetFinalizers())
	}
	active := func(u *unstructured.Unstructured) bool { return str(u, "status", "state") == "ACTIVE" }
	s1 := eventually(t, 15*time.Second, "s1 ACTIVE", getter(stamped, ns, "s1"), active)
	if metadataPatchedBy(s1, "trellis") {
		t.Errorf("the controller patched the metadata of a stamped instance: %v", s1.GetManagedFields())
	}

	// Without the policy (its binding removed by hand; the controller does
	// not watch it), the controller's patch does the job.
	name := admission.PolicyName("stamped")
	binding := &admv1.MutatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := env.Client.Delete(ctx, binding); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(stamped).Namespace(ns).Create(ctx, instance("probe"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil && !contains(u.GetFinalizers(), "kro.run/finalizer"), err
	})
	if err != nil {
		t.Fatalf("dry-run creates still stamped after the binding was deleted: %v", err)
	}
	if _, err := dyn.Resource(stamped).Namespace(ns).Create(ctx, instance("s2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s2 := eventually(t, 15*time.Second, "s2 ACTIVE and managed", getter(stamped, ns, "s2"), func(u *unstructured.Unstructured) bool {
		return active(u) && contains(u.GetFinalizers(), "kro.run/finalizer") && u.GetLabels()["kro.run/owned"] == "true"
	})
	if !metadataPatchedBy(s2, "trellis") {
		t.Errorf("s2 is managed but the controller did not patch it: %v", s2.GetManagedFields())
	}

	// Deleting the RGD removes its policy.
	for _, n := range []string{"s1", "s2"} {
		mustUpdate(t, stamped, ns, n, func(u *unstructured.Unstructured) {
			u.SetFinalizers([]string{"kro.run/finalizer"}) // release the test's own finalizer
		})
		if err := dyn.Resource(stamped).Namespace(ns).Delete(ctx, n, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		gone(t, 15*time.Second, stamped, ns, n)
	}
	if err := dyn.Resource(rgdGVR).Delete(ctx, "stamped", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone(t, 15*time.Second, rgdGVR, "", "stamped")
	if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &admv1.MutatingAdmissionPolicy{}); !apierrors.IsNotFound(err) {
		t.Errorf("policy %s after the RGD was deleted: %v", name, err)
	}
}
