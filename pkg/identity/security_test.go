package identity_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/trellis-dev/trellis/pkg/identity"
)

var kinds atomic.Int32

// kind returns a fresh instance kind and its resource.
func kind(prefix string) (string, schema.GroupVersionResource) {
	k := fmt.Sprintf("%s%d", prefix, kinds.Add(1))
	return k, schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: strings.ToLower(k) + "s"}
}

// escalationRGD tries what an RGD author without rights must not manage:
// bind themselves to cluster-admin and plant a Secret in kube-system.
func escalationRGD(t *testing.T, name, kind, user, serviceAccount string) *unstructured.Unstructured {
	annotations := ""
	if serviceAccount != "" {
		annotations = fmt.Sprintf("annotations: {%q: %q}", identity.Annotation, serviceAccount)
	}
	return parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: %s
  %s
spec:
  schema: {apiVersion: v1alpha1, kind: %s, spec: {}}
  resources:
  - id: binding
    template:
      apiVersion: rbac.authorization.k8s.io/v1
      kind: ClusterRoleBinding
      metadata: {name: "${schema.metadata.name}-admin"}
      roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
      subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: %s}]
  - id: secret
    template:
      apiVersion: v1
      kind: Secret
      metadata: {name: "${schema.metadata.name}-planted", namespace: kube-system}
      stringData: {token: planted}
`, name, annotations, kind, user)
}

func TestRGDAuthorCannotEscalate(t *testing.T) {
	env := setup(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	author := "rgd-author-" + ns
	grant(t, author, "", author, rgdRights)
	c := as(env, author)

	// Borrowing a powerful ServiceAccount is refused when the RGD is written.
	k, _ := kind("Borrow")
	err := waitForPolicy(t, c, escalationRGD(t, "borrow-"+ns, k, author, "kube-system/clusterrole-aggregation-controller"))
	if err == nil || !strings.Contains(err.Error(), "may not impersonate ServiceAccount kube-system/clusterrole-aggregation-controller") {
		t.Fatalf("RGD naming a kube-system ServiceAccount: got %v, want refused by the admission policy", err)
	}

	// A ServiceAccount the author may use, with only ConfigMap rights: the
	// RGD is rejected when built, naming kind, verb and identity.
	grant(t, author+"-impersonate", ns, author, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"serviceaccounts"},
		Verbs: []string{"impersonate"}, ResourceNames: []string{"limited"}})
	grant(t, "limited", ns, "sa:"+ns+"/limited", cmRights)
	k, _ = kind("Limited")
	name := "limited-" + ns
	if err := createRGD(t, c, escalationRGD(t, name, k, author, ns+"/limited")); err != nil {
		t.Fatal(err)
	}
	got := eventually(t, "RGD rejected as Forbidden", getRGD(name), func(u *unstructured.Unstructured) bool {
		return condition(u, "GraphAccepted")["reason"] == "Forbidden"
	})
	msg := fmt.Sprint(condition(got, "GraphAccepted")["message"])
	if want := "ServiceAccount " + ns + "/limited may not create ClusterRoleBinding"; !strings.Contains(msg, want) || state(got) != "Inactive" {
		t.Fatalf("GraphAccepted message %q, state %q: want %q, Inactive", msg, state(got), want)
	}

	// No annotation: the default identity, each instance namespace's
	// ServiceAccount, which may create neither.
	k, gvr := kind("Default")
	name = "default-" + ns
	if err := createRGD(t, c, escalationRGD(t, name, k, author, "")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "RGD active", getRGD(name), func(u *unstructured.Unstructured) bool { return state(u) == "Active" })
	inst := parse(t, "{apiVersion: kro.run/v1alpha1, kind: %s, metadata: {name: x, namespace: %s}, spec: {}}", k, ns)
	createInstance(t, adminDyn, gvr, inst)
	got = eventually(t, "instance Forbidden", getObj(gvr, ns, "x"), func(u *unstructured.Unstructured) bool {
		return condition(u, "GraphResolved")["reason"] == "Forbidden"
	})
	want := "ServiceAccount " + ns + "/" + defaultIdent.Name + " may not create ClusterRoleBinding"
	if msg := fmt.Sprint(condition(got, "GraphResolved")["message"]); !strings.Contains(msg, want) {
		t.Fatalf("instance condition %q, want %q", msg, want)
	}

	for _, err := range []error{
		getErr(admin.RbacV1().ClusterRoleBindings().Get(ctx, "x-admin", metav1.GetOptions{})),
		getErr(admin.CoreV1().Secrets("kube-system").Get(ctx, "x-planted", metav1.GetOptions{})),
	} {
		if !apierrors.IsNotFound(err) {
			t.Errorf("want nothing created through the RGD, got %v", err)
		}
	}
}

func getErr[T any](_ T, err error) error { return err }

func getObj(gvr schema.GroupVersionResource, ns, name string) func() (*unstructured.Unstructured, error) {
	return func() (*unstructured.Unstructured, error) {
		return adminDyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	}
}

// createInstance creates an instance as c, retrying while the API server
// does not serve the new kind yet.
func createInstance(t *testing.T, c dynamic.Interface, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	t.Helper()
	var err error
	_ = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err = c.Resource(gvr).Namespace(u.GetNamespace()).Create(ctx, u, metav1.CreateOptions{})
		return err == nil || !(apierrors.IsNotFound(err) || strings.Contains(err.Error(), "There can be a delay")), nil
	})
	if err != nil {
		t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// configMapRGD makes one ConfigMap per instance, in the namespace the
// instance's spec.target names (its own when empty).
func configMapRGD(t *testing.T, name, kind, annotations string) *unstructured.Unstructured {
	return parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: %s
  annotations: {%s}
spec:
  schema:
    apiVersion: v1alpha1
    kind: %s
    spec: {target: 'string | default=""'}
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-cm", namespace: "${schema.spec.target}"}
      data: {from: "${schema.metadata.namespace}"}
`, name, annotations, kind)
}

func TestInstanceAuthorConfinedToNamespace(t *testing.T) {
	env := setup(t)
	ctx := context.Background()
	ns, other := env.Namespace(t), env.Namespace(t)
	k, gvr := kind("Confined")
	if err := createRGD(t, adminDyn, configMapRGD(t, "confined-"+ns, k, "")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "RGD active", getRGD("confined-"+ns), func(u *unstructured.Unstructured) bool { return state(u) == "Active" })
	// The namespace's identity may write ConfigMaps in both namespaces:
	// only confinement keeps the instance in its own.
	sa := "sa:" + ns + "/" + defaultIdent.Name
	grant(t, "instance-identity", ns, sa, cmRights)
	grant(t, "instance-identity", other, sa, cmRights)
	author := "instance-author-" + ns
	grant(t, "instance-author", ns, author, rbacv1.PolicyRule{APIGroups: []string{"kro.run"}, Resources: []string{gvr.Resource}, Verbs: []string{"get", "create"}})
	c := as(env, author)

	createInstance(t, c, gvr, parse(t, "{apiVersion: kro.run/v1alpha1, kind: %s, metadata: {name: here, namespace: %s}, spec: {}}", k, ns))
	createInstance(t, c, gvr, parse(t, "{apiVersion: kro.run/v1alpha1, kind: %s, metadata: {name: away, namespace: %s}, spec: {target: %s}}", k, ns, other))

	eventually(t, "instance in its own namespace active", getObj(gvr, ns, "here"), func(u *unstructured.Unstructured) bool { return state(u) == "ACTIVE" })
	if _, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, "here-cm", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	got := eventually(t, "instance reaching out refused", getObj(gvr, ns, "away"), func(u *unstructured.Unstructured) bool {
		return strings.Contains(fmt.Sprint(condition(u, "GraphResolved")["message"]), "outside the instance's namespace")
	})
	if state(got) != "ERROR" {
		t.Errorf("state %q, want ERROR", state(got))
	}
	if _, err := admin.CoreV1().ConfigMaps(other).Get(ctx, "away-cm", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("ConfigMap in the other namespace: %v, want none", err)
	}
}

func TestGrantingTheRoleActivatesTheRGD(t *testing.T) {
	env := setup(t)
	ctx := context.Background()
	ns := env.Namespace(t)
	k, gvr := kind("Granted")
	name := "granted-" + ns
	ann := fmt.Sprintf("%q: %q", identity.Annotation, ns+"/grantee")
	if err := createRGD(t, adminDyn, configMapRGD(t, name, k, ann)); err != nil {
		t.Fatal(err)
	}
	got := eventually(t, "RGD Forbidden", getRGD(name), func(u *unstructured.Unstructured) bool {
		return condition(u, "GraphAccepted")["reason"] == "Forbidden"
	})
	want := "ServiceAccount " + ns + "/grantee may not create ConfigMap (configmaps) in all namespaces"
	if msg := fmt.Sprint(condition(got, "GraphAccepted")["message"]); !strings.Contains(msg, want) {
		t.Fatalf("GraphAccepted message %q, want %q", msg, want)
	}

	// No restart: the ClusterRoleBinding event re-checks the RGD.
	grant(t, "grantee-"+ns, "", "sa:"+ns+"/grantee", cmRights)
	eventually(t, "RGD active", getRGD(name), func(u *unstructured.Unstructured) bool { return state(u) == "Active" })
	createInstance(t, adminDyn, gvr, parse(t, "{apiVersion: kro.run/v1alpha1, kind: %s, metadata: {name: one, namespace: %s}, spec: {}}", k, ns))
	eventually(t, "instance active", getObj(gvr, ns, "one"), func(u *unstructured.Unstructured) bool { return state(u) == "ACTIVE" })
	if _, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, "one-cm", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}
