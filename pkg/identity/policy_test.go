package identity_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	admv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/trellis-dev/trellis/pkg/identity"
)

// countWrites counts the requests that are not reads.
type countWrites struct {
	next   http.RoundTripper
	writes *atomic.Int32
}

func (c countWrites) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodGet {
		c.writes.Add(1)
	}
	return c.next.RoundTrip(r)
}

// A restart against an unchanged identity policy writes nothing; a policy
// someone changed is put back.
func TestEnsurePolicyWritesOnlyChanges(t *testing.T) {
	env := setup(t)
	ctx := context.Background()
	var writes atomic.Int32
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countWrites{rt, &writes} }
	kube := kubernetes.NewForConfigOrDie(cfg)
	const manager = "policy-test"

	if err := identity.EnsurePolicy(ctx, kube, manager); err != nil {
		t.Fatal(err)
	}
	if err := identity.EnsurePolicy(ctx, kube, manager); err != nil {
		t.Fatal(err)
	}
	first := writes.Load()
	if err := identity.EnsurePolicy(ctx, kube, manager); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load() - first; n != 0 {
		t.Fatalf("EnsurePolicy on an unchanged policy wrote %d times", n)
	}

	api := kubernetes.NewForConfigOrDie(env.Config).AdmissionregistrationV1().ValidatingAdmissionPolicies()
	live, err := api.Get(ctx, identity.PolicyName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ignore := admv1.Ignore
	live.Spec.FailurePolicy = &ignore
	if _, err := api.Update(ctx, live, metav1.UpdateOptions{FieldManager: "someone"}); err != nil {
		t.Fatal(err)
	}
	if err := identity.EnsurePolicy(ctx, kube, manager); err != nil {
		t.Fatal(err)
	}
	back, err := api.Get(ctx, identity.PolicyName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if back.Spec.FailurePolicy == nil || *back.Spec.FailurePolicy != admv1.Fail {
		t.Fatalf("failurePolicy after EnsurePolicy = %v, want Fail", back.Spec.FailurePolicy)
	}
}
