package admission

import (
	"context"
	"os"
	"testing"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{}))
}

// Ensure writes the policy and binding once, rewrites them only when the
// stamp changes, and Remove deletes both; without permission it turns
// itself off instead of failing every RGD reconcile.
func TestPoliciesAgainstAPIServer(t *testing.T) {
	env := testenv.Current(t)
	ctx := context.Background()
	kube := kubernetes.NewForConfigOrDie(env.Config)
	api := kube.AdmissionregistrationV1()
	owner := Owner{Name: "policytest.kro.run", UID: "0c4a4b9e-4c44-4a0e-9d55-0d1c3b6c2d11"}
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "policytests"}
	stamp := Stamp{Finalizer: "kro.run/finalizer", Labels: map[string]string{"kro.run/owned": "true"}}
	name := PolicyName(owner.Name)

	// A user without any RBAC: Forbidden switches the manager off.
	nobody := rest.CopyConfig(env.Config)
	nobody.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	denied := NewPolicies(kubernetes.NewForConfigOrDie(nobody), logr.Discard())
	if err := denied.Ensure(ctx, owner, gvr, stamp); err != nil {
		t.Fatalf("Ensure without permission: %v (want nil: the controller's patch takes over)", err)
	}
	if !denied.unavailable.Load() {
		t.Error("Forbidden did not turn the manager off")
	}

	// An API server that does not serve the API (here: every path under a
	// prefix it does not know answers 404) switches it off too.
	unserved := rest.CopyConfig(env.Config)
	unserved.Host += "/no-such-prefix"
	absent := NewPolicies(kubernetes.NewForConfigOrDie(unserved), logr.Discard())
	if err := absent.Ensure(ctx, owner, gvr, stamp); err != nil || !absent.unavailable.Load() {
		t.Errorf("Ensure where the API is not served: err %v, turned off %v (want nil, true)", err, absent.unavailable.Load())
	}

	p := NewPolicies(kube, logr.Discard())
	if err := p.Ensure(ctx, owner, gvr, stamp); err != nil {
		t.Fatal(err)
	}
	first, err := api.MutatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.MutatingAdmissionPolicyBindings().Get(ctx, name, metav1.GetOptions{}); err != nil {
		t.Fatalf("binding: %v", err)
	}
	if err := p.Ensure(ctx, owner, gvr, stamp); err != nil {
		t.Fatal(err)
	}
	again, _ := api.MutatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{})
	if again.ResourceVersion != first.ResourceVersion {
		t.Errorf("an unchanged stamp rewrote the policy (resourceVersion %s → %s)", first.ResourceVersion, again.ResourceVersion)
	}
	stamp.Labels["kro.run/kro-version"] = "v2"
	if err := p.Ensure(ctx, owner, gvr, stamp); err != nil {
		t.Fatal(err)
	}
	changed, _ := api.MutatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{})
	if changed.Annotations[annotationSpecHash] == first.Annotations[annotationSpecHash] || changed.Spec.Mutations[0].JSONPatch.Expression != Expression(stamp) {
		t.Errorf("a changed stamp did not update the policy: %s", changed.Spec.Mutations[0].JSONPatch.Expression)
	}

	if err := p.Remove(ctx, owner.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := api.MutatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("policy after Remove: %v", err)
	}
	if _, err := api.MutatingAdmissionPolicyBindings().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("binding after Remove: %v", err)
	}
	if err := p.Remove(ctx, owner.Name); err != nil {
		t.Errorf("Remove of nothing: %v", err)
	}
}
