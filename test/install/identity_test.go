package install

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

// TestDefaultServiceAccountFromTheChart installs the chart with
// config.defaultServiceAccount and runs the controller as the chart's
// ServiceAccount. The chart's role may read ConfigMaps (a platform team's
// aggregated role, for the shared informers) but not write them: the
// RGD is Forbidden until the identity is granted ConfigMaps, and then its
// instance's ConfigMap is written as that identity.
func TestDefaultServiceAccountFromTheChart(t *testing.T) {
	env := testenv.Current(t)
	const identity = "trellis-test-identities/deployer"
	manifest := renderChart(t, "config.defaultServiceAccount="+identity)
	objs := decode(t, manifest)
	var args []string
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
			args, _, _ = unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
		}
	}
	if !contains(args, "--default-service-account="+identity) || !contains(args, "--confine-children=true") {
		t.Fatalf("the chart's Deployment args %v lack the identity flags", args)
	}
	kubeconfig := chartIdentityKubeconfig(t, env)
	bin := buildTrellis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ensureNamespace(t, env.Client, releaseNamespace)
	newApplier(t, env).applyAll(t, objs, false)
	if t.Failed() {
		t.FailNow()
	}
	readCMs := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "trellis-test:read-configmaps", Labels: map[string]string{"rbac.kro.run/aggregate-to-controller": "true"}},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if err := env.Client.Create(ctx, readCMs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), readCMs) })
	_, alive := startController(t, bin, kubeconfig, args)
	dyn := dynamic.NewForConfigOrDie(env.Config)

	rgd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: install-identity}
spec:
  schema: {apiVersion: v1alpha1, kind: InstallIdentity, spec: {}}
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-cm"}
      data: {written: by-the-identity}
`), &rgd.Object); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(rgdGVR).Create(ctx, rgd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dyn.Resource(rgdGVR).Delete(context.Background(), rgd.GetName(), metav1.DeleteOptions{}) })
	rgdState := func(want string) func(*unstructured.Unstructured) bool {
		return func(u *unstructured.Unstructured) bool {
			s, _, _ := unstructured.NestedString(u.Object, "status", "state")
			return s == want
		}
	}
	last := poll(t, ctx, dyn, rgdGVR, "", rgd.GetName(), func(u *unstructured.Unstructured) bool {
		return strings.Contains(conditionsText(u), "GraphAccepted=False (Forbidden): ServiceAccount "+identity+" may not create ConfigMap")
	})
	t.Logf("before the grant:\n%s", conditionsText(last))

	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "trellis-test:deployer"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "trellis-test:deployer"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "trellis-test-identities", Name: "deployer"}}}
	if err := env.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), role) })
	if err := env.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), binding) })
	poll(t, ctx, dyn, rgdGVR, "", rgd.GetName(), rgdState("Active"))

	ns := env.Namespace(t)
	gvr := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "installidentities"}
	inst := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kro.run/v1alpha1", "kind": "InstallIdentity",
		"metadata": map[string]any{"name": "one", "namespace": ns}, "spec": map[string]any{}}}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, inst, metav1.CreateOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("creating the instance: %v", err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(gvr).Namespace(ns).Delete(context.Background(), "one", metav1.DeleteOptions{})
	})
	poll(t, ctx, dyn, gvr, ns, "one", func(u *unstructured.Unstructured) bool {
		s, _, _ := unstructured.NestedString(u.Object, "status", "state")
		return s == "ACTIVE"
	})
	// The chart's own role cannot create ConfigMaps: this one was written
	// as the identity.
	if _, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}).Namespace(ns).Get(ctx, "one-cm", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if !alive() {
		t.Fatal("the controller exited")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// poll waits until cond holds for the object, failing with its conditions.
func poll(t *testing.T, ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns, name string, cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var last *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = u
		return cond(u), nil
	})
	if err != nil {
		text := ""
		if last != nil {
			text = conditionsText(last)
		}
		t.Fatalf("%s %s/%s: %v\n%s", gvr.Resource, ns, name, err, text)
	}
	return last
}
