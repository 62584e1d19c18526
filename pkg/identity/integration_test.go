package identity_test

// These tests run trellis's controllers against a real API server with real
// RBAC. Admin credentials only set the scene (namespaces, roles, bindings);
// RGD and instance authors then act through impersonation as users who
// hold only the rights their role gives them.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/identity"
	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{}))
}

var (
	rgdGVR       = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
	started      bool
	admin        kubernetes.Interface
	adminDyn     dynamic.Interface
	defaultIdent = identity.Ref{Namespace: identity.InstanceNamespace, Name: "instance-identity"}
)

// setup starts trellis once, as the chart configures it: children confined,
// and RGDs without the annotation acting as each instance namespace's
// "instance-identity" ServiceAccount.
func setup(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.Current(t)
	if started {
		return env
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := operator.Setup(mgr, operator.Options{InstanceWorkers: 4, RGDWorkers: 2, InstallCRDs: true, MaxGraphRevisions: 3,
		DefaultServiceAccount: defaultIdent.String(), ConfineChildren: true}); err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := mgr.Start(context.Background()); err != nil {
			panic(err)
		}
	}()
	admin = kubernetes.NewForConfigOrDie(env.Config)
	adminDyn = dynamic.NewForConfigOrDie(env.Config)
	started = true
	return env
}

// as returns a dynamic client acting as user (no groups but
// system:authenticated): what that user's roles allow, nothing more.
func as(env *testenv.Env, user string) dynamic.Interface {
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	return dynamic.NewForConfigOrDie(cfg)
}

// grant binds user (or ServiceAccount ns/name, as "sa:ns/name") to rules,
// in namespace ns or cluster-wide when ns is "".
func grant(t *testing.T, name, ns, subject string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	subj := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: subject}
	if sa, ok := strings.CutPrefix(subject, "sa:"); ok {
		sns, sname, _ := strings.Cut(sa, "/")
		subj = rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: sns, Name: sname}
	}
	meta := metav1.ObjectMeta{Name: name, Namespace: ns}
	var err error
	if ns == "" {
		if _, err = admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{}); err == nil {
			_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta, Subjects: []rbacv1.Subject{subj},
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}}, metav1.CreateOptions{})
		}
		t.Cleanup(func() {
			_ = admin.RbacV1().ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
			_ = admin.RbacV1().ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		})
	} else {
		if _, err = admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: meta, Rules: rules}, metav1.CreateOptions{}); err == nil {
			_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta, Subjects: []rbacv1.Subject{subj},
				RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name}}, metav1.CreateOptions{})
		}
	}
	if err != nil {
		t.Fatalf("granting %s: %v", name, err)
	}
}

var (
	rgdRights = rbacv1.PolicyRule{APIGroups: []string{"kro.run"}, Resources: []string{"resourcegraphdefinitions"}, Verbs: []string{"get", "list", "create", "update", "patch", "delete"}}
	cmRights  = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}}
)

func parse(t *testing.T, format string, args ...any) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(format, args...)), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

// createRGD creates an RGD as the client given and deletes it (as admin)
// at the end.
func createRGD(t *testing.T, c dynamic.Interface, u *unstructured.Unstructured) error {
	t.Helper()
	_, err := c.Resource(rgdGVR).Create(context.Background(), u, metav1.CreateOptions{})
	if err == nil {
		t.Cleanup(func() {
			ctx := context.Background()
			patch := []byte(`{"metadata":{"annotations":{"trellis.dev/orphan-instances":"true"}}}`)
			_, _ = adminDyn.Resource(rgdGVR).Patch(ctx, u.GetName(), "application/merge-patch+json", patch, metav1.PatchOptions{})
			_ = adminDyn.Resource(rgdGVR).Delete(ctx, u.GetName(), metav1.DeleteOptions{})
		})
	}
	return err
}

// eventually polls get until cond holds, and fails with the last object.
func eventually(t *testing.T, what string, get func() (*unstructured.Unstructured, error), cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var last *unstructured.Unstructured
	var lastErr error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
		last, lastErr = get()
		return lastErr == nil && cond(last), nil
	})
	if err != nil {
		dump, _ := yaml.Marshal(last)
		t.Fatalf("%s: never happened (last error %v):\n%s", what, lastErr, dump)
	}
	return last
}

// condition returns the condition of type typ of obj's status.
func condition(u *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return map[string]any{}
}

func getRGD(name string) func() (*unstructured.Unstructured, error) {
	return func() (*unstructured.Unstructured, error) {
		return adminDyn.Resource(rgdGVR).Get(context.Background(), name, metav1.GetOptions{})
	}
}

func state(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "status", "state")
	return s
}

// waitForPolicy waits until the API server enforces the admission policy
// (it loads policies asynchronously): a dry run of a forbidden RGD is
// refused.
func waitForPolicy(t *testing.T, author dynamic.Interface, u *unstructured.Unstructured) error {
	t.Helper()
	var err error
	_ = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err = author.Resource(rgdGVR).Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "may not impersonate"), nil
	})
	return err
}
