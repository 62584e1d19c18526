package bench

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/identity"
)

// WithServiceAccount makes the run's BenchApp RGD act as the ServiceAccount
// sa ("<namespace>/<name>", annotation trellis.dev/service-account): every
// child write is then impersonated and authorized as sa. Before the
// controller starts, sa is bound cluster-wide to exactly the verbs trellis
// needs on the RGD's child kinds, so the RGD passes its identity check.
func WithServiceAccount(o *Options, sa string) error {
	id, err := identity.Parse(sa)
	if err != nil {
		return fmt.Errorf("--service-account: %w", err)
	}
	if id.PerInstance() {
		return fmt.Errorf("--service-account: %s: the benchmark binds one ServiceAccount; %s is not supported", sa, identity.InstanceNamespace)
	}
	workload := RGD
	if len(o.RGD) > 0 {
		workload = o.RGD
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(workload, &u.Object); err != nil {
		return fmt.Errorf("benchmark RGD: %w", err)
	}
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[identity.Annotation] = id.String()
	u.SetAnnotations(ann)
	if o.RGD, err = yaml.Marshal(u.Object); err != nil {
		return err
	}
	start := o.Controller
	if start == nil {
		return fmt.Errorf("WithServiceAccount: Options.Controller is not set")
	}
	o.Controller = func(ctx context.Context, kubeconfig string, workers int, logPath string) (Controller, error) {
		if err := grantChildren(ctx, kubeconfig, u, id); err != nil {
			return nil, fmt.Errorf("granting %s the benchmark's child kinds: %w", id, err)
		}
		return start(ctx, kubeconfig, workers, logPath)
	}
	return nil
}

// grantChildren binds id to create, get, patch and delete (plus list and
// watch) on the kinds of rgd's templates, resolved through discovery.
func grantChildren(ctx context.Context, kubeconfig string, rgd *unstructured.Unstructured, id identity.Ref) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	groups, err := restmapper.GetAPIGroupResources(discovery.NewDiscoveryClient(kube.RESTClient()))
	if err != nil {
		return err
	}
	mapper := restmapper.NewDiscoveryRESTMapper(groups)
	res, _, _ := unstructured.NestedSlice(rgd.Object, "spec", "resources")
	var rules []rbacv1.PolicyRule
	for _, r := range res {
		t, _, _ := unstructured.NestedMap(r.(map[string]any), "template")
		apiVersion, _ := t["apiVersion"].(string)
		kind, _ := t["kind"].(string)
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil {
			return err
		}
		m, err := mapper.RESTMapping(gv.WithKind(kind).GroupKind(), gv.Version)
		if err != nil {
			return err
		}
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{m.Resource.Group}, Resources: []string{m.Resource.Resource},
			Verbs: []string{"create", "get", "patch", "delete", "list", "watch"}})
	}
	name := "trellis-bench:" + id.Namespace + ":" + id.Name
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: id.Namespace, Name: id.Name}}}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
