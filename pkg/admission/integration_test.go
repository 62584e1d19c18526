package admission

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

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
	gvk := schema.GroupVersionKind{Group: "kro.run", Version: "v1alpha1", Kind: "PolicyTest"}
	stamp := Stamp{Finalizer: "kro.run/finalizer", Labels: map[string]string{"kro.run/owned": "true"}}
	name := PolicyName(owner.Name)

	// A user without any RBAC: Forbidden switches the manager off.
	nobody := rest.CopyConfig(env.Config)
	nobody.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
	denied := NewPolicies(kubernetes.NewForConfigOrDie(nobody), logr.Discard())
	if _, err := denied.Ensure(ctx, owner, gvk, gvr, stamp); err != nil {
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
	if _, err := absent.Ensure(ctx, owner, gvk, gvr, stamp); err != nil || !absent.unavailable.Load() {
		t.Errorf("Ensure where the API is not served: err %v, turned off %v (want nil, true)", err, absent.unavailable.Load())
	}

	// No binding before the kind is published in /openapi/v3 and has been
	// for Settle: a policy matching a kind the API server's type converter
	// does not know fails every create of it.
	p := NewPolicies(kube, logr.Discard())
	p.Settle = 2 * time.Second
	if wait, err := p.Ensure(ctx, owner, gvk, gvr, stamp); err != nil || wait == 0 {
		t.Fatalf("Ensure for a kind that is not served: wait %v, err %v (want a wait)", wait, err)
	}
	if _, err := api.MutatingAdmissionPolicyBindings().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("binding for a kind that is not served: %v", err)
	}
	createPolicyTestCRD(ctx, t, env)
	waited := time.Duration(0)
	for {
		wait, err := p.Ensure(ctx, owner, gvk, gvr, stamp)
		if err != nil {
			t.Fatal(err)
		}
		if wait == 0 {
			break
		}
		if _, err := api.MutatingAdmissionPolicyBindings().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("binding created while Ensure still waits: %v", err)
		}
		if waited += wait; waited > time.Minute {
			t.Fatalf("the kind was not published in a minute")
		}
		time.Sleep(wait)
	}
	if waited < p.Settle {
		t.Errorf("bound after %v, before the kind settled (%v)", waited, p.Settle)
	}
	first, err := api.MutatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.MutatingAdmissionPolicyBindings().Get(ctx, name, metav1.GetOptions{}); err != nil {
		t.Fatalf("binding: %v", err)
	}
	if _, err := p.Ensure(ctx, owner, gvk, gvr, stamp); err != nil {
		t.Fatal(err)
	}
	again, _ := api.MutatingAdmissionPolicies().Get(ctx, name, metav1.GetOptions{})
	if again.ResourceVersion != first.ResourceVersion {
		t.Errorf("an unchanged stamp rewrote the policy (resourceVersion %s → %s)", first.ResourceVersion, again.ResourceVersion)
	}
	stamp.Labels["kro.run/kro-version"] = "v2"
	if _, err := p.Ensure(ctx, owner, gvk, gvr, stamp); err != nil {
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

func createPolicyTestCRD(ctx context.Context, t *testing.T, env *testenv.Env) {
	t.Helper()
	crd := &extv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "policytests.kro.run"},
		Spec: extv1.CustomResourceDefinitionSpec{
			Group: "kro.run",
			Names: extv1.CustomResourceDefinitionNames{Plural: "policytests", Singular: "policytest", Kind: "PolicyTest", ListKind: "PolicyTestList"},
			Scope: extv1.NamespaceScoped,
			Versions: []extv1.CustomResourceDefinitionVersion{{
				Name: "v1alpha1", Served: true, Storage: true,
				Schema: &extv1.CustomResourceValidation{OpenAPIV3Schema: &extv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}},
			}},
		},
	}
	ext := apiextensions.NewForConfigOrDie(env.Config)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ext.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), crd.Name, metav1.DeleteOptions{})
	})
}
