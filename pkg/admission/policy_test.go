package admission

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestBuildHashFollowsTheStamp(t *testing.T) {
	owner := Owner{Name: "apps.kro.run", UID: "u1"}
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "apps"}
	stamp := func(version string) Stamp {
		return Stamp{Finalizer: "kro.run/finalizer", Labels: map[string]string{"kro.run/kro-version": version, "kro.run/owned": "true"},
			Annotations: map[string]string{"trellis.dev/child-resources": "configmaps.v1."}}
	}
	p1, b1 := Build(owner, gvr, stamp("v1"))
	p2, _ := Build(owner, gvr, stamp("v1"))
	p3, b3 := Build(owner, gvr, stamp("v2"))
	if p1.Annotations[annotationSpecHash] != p2.Annotations[annotationSpecHash] {
		t.Error("the same stamp hashes differently: every reconcile would rewrite the policy")
	}
	if p1.Annotations[annotationSpecHash] == p3.Annotations[annotationSpecHash] {
		t.Error("a changed label does not change the hash: the policy would never be updated")
	}
	if b1.Spec.PolicyName != p1.Name || b1.Annotations[annotationSpecHash] != b3.Annotations[annotationSpecHash] {
		t.Errorf("binding %q for policy %q, hashes %q / %q", b1.Spec.PolicyName, p1.Name, b1.Annotations[annotationSpecHash], b3.Annotations[annotationSpecHash])
	}
	if p1.OwnerReferences[0].UID != "u1" || p1.Labels["kro.run/resource-graph-definition-name"] != "apps.kro.run" {
		t.Errorf("policy metadata = %+v", p1.ObjectMeta)
	}
}

func TestExpressionQuotesValues(t *testing.T) {
	e := Expression(Stamp{Finalizer: "kro.run/finalizer", Labels: map[string]string{"a/b": `x"y`}})
	for _, want := range []string{`jsonpatch.escapeKey("a/b")`, `value: "x\"y"`, `{"a/b": "x\"y"}`} {
		if !strings.Contains(e, want) {
			t.Errorf("expression lacks %s:\n%s", want, e)
		}
	}
	if strings.Contains(e, "annotations") {
		t.Errorf("no annotations to stamp, but the expression patches them:\n%s", e)
	}
}

func TestPolicyNameStaysADNSSubdomain(t *testing.T) {
	long := strings.Repeat("a", 244) + ".b.kro.run" // 254 characters with the prefix
	name := PolicyName(long)
	if len(name) > 253 || strings.HasSuffix(name, ".") {
		t.Errorf("PolicyName(%d chars) = %q (%d chars)", len(long), name, len(name))
	}
	if PolicyName("apps.kro.run") != "trellis-apps.kro.run" {
		t.Errorf("short name changed: %q", PolicyName("apps.kro.run"))
	}
}
