package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

// `trellis validate --as` asks the cluster whether a ServiceAccount may do
// what an RGD's instances do: refused, naming resource, kind and verb,
// until a role grants it.
func TestValidateAs(t *testing.T) {
	env := testenv.Current(t)
	ns := env.Namespace(t)
	rgd := filepath.Join(t.TempDir(), "rgd.yaml")
	if err := os.WriteFile(rgd, []byte(`apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata: {name: validate-as}
spec:
  schema: {apiVersion: v1alpha1, kind: ValidateAs, spec: {}}
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	validate := func() (int, string) {
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"validate", "-f", rgd, "--kubeconfig", env.Kubeconfig, "--as", ns + "/deployer"})
		return run(root, &out), out.String()
	}
	code, out := validate()
	if want := "resources[cm]: Forbidden: ServiceAccount " + ns + "/deployer may not create ConfigMap (configmaps) in all namespaces"; code != 1 || !strings.Contains(out, want) {
		t.Fatalf("before the grant: exit %d, output %q; want 1 and %q", code, out, want)
	}

	ctx := context.Background()
	rbac := kubernetes.NewForConfigOrDie(env.Config).RbacV1()
	name := "validate-as-" + ns
	if _, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "get", "patch", "delete"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: "deployer"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
	})
	// The API server's authorizer picks the binding up from its own cache.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		code, out = validate()
		return code == 0 && strings.Contains(out, "validate-as: valid"), nil
	})
	if err != nil {
		t.Fatalf("after the grant: exit %d, output %q", code, out)
	}
}
