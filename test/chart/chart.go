// Package chart installs the chart's rendered manifests (dist/) on a test
// cluster and runs trellis with the chart's identity: a kubeconfig that keeps
// the test's admin credentials but impersonates the chart's ServiceAccount, so
// every request of the controller is authorised exactly as the installed
// pod's would be. Shared by test/install and test/e2e.
package chart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
)

// The release the dist/ manifests are rendered for.
const (
	Namespace      = "trellis-system"
	ServiceAccount = "trellis"
	// ControllerRole is the aggregated ClusterRole bound to the ServiceAccount.
	ControllerRole = "trellis:controller"
	// AggregateLabel is kro's label that adds a ClusterRole to the controller's.
	AggregateLabel = "rbac.kro.run/aggregate-to-controller"
)

// ReadDist reads dist/<name> from the repository root.
func ReadDist(root, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join(root, "dist", name))
}

// Decode splits a multi-document YAML manifest into objects.
func Decode(manifest []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decode manifest: %w", err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// Applier applies objects with server-side apply through the dynamic client.
type Applier struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
}

func NewApplier(cfg *rest.Config) (*Applier, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// Apply server-side applies u (as a dry run when dryRun is set).
func (a *Applier) Apply(ctx context.Context, u *unstructured.Unstructured, dryRun bool) error {
	gvk := u.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		// A kind the manifest itself just added (a CRD) is not in the cache yet.
		a.mapper.Reset()
		if m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return err
		}
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = a.dyn.Resource(m.Resource).Namespace(u.GetNamespace())
	}
	opts := metav1.ApplyOptions{FieldManager: "trellis-install-test", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Apply(ctx, u.GetName(), u, opts)
	return err
}

// Install applies every object of a dist/ manifest and waits until
// kube-controller-manager has filled the aggregated controller role with at
// least the rules of every ClusterRole the manifest aggregates into it.
func Install(ctx context.Context, cfg *rest.Config, manifest []byte) error {
	objs, err := Decode(manifest)
	if err != nil {
		return err
	}
	a, err := NewApplier(cfg)
	if err != nil {
		return err
	}
	want := 0
	for _, u := range objs {
		if err := a.Apply(ctx, u, false); err != nil {
			return fmt.Errorf("apply %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		if u.GetKind() == "ClusterRole" && u.GetLabels()[AggregateLabel] == "true" {
			rules, _, _ := unstructured.NestedSlice(u.Object, "rules")
			want += len(rules)
		}
	}
	return WaitAggregated(ctx, cfg, want)
}

// WaitAggregated waits until the controller role holds at least n rules.
func WaitAggregated(ctx context.Context, cfg *rest.Config, n int) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	var have int
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		cr, err := cs.RbacV1().ClusterRoles().Get(ctx, ControllerRole, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		have = len(cr.Rules)
		return have >= n, nil
	})
	if err != nil {
		return fmt.Errorf("the aggregated ClusterRole %s has %d rules, want at least %d: %w", ControllerRole, have, n, err)
	}
	return nil
}

// IdentityKubeconfig writes dir/chart-identity.kubeconfig: the admin
// kubeconfig's credentials impersonating the chart's ServiceAccount with
// the groups the API server gives a ServiceAccount token.
func IdentityKubeconfig(adminKubeconfig, dir string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(adminKubeconfig)
	if err != nil {
		return "", err
	}
	user := "system:serviceaccount:" + Namespace + ":" + ServiceAccount
	for _, ai := range cfg.AuthInfos {
		ai.Impersonate = user
		ai.ImpersonateGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + Namespace, "system:authenticated"}
	}
	path := filepath.Join(dir, "chart-identity.kubeconfig")
	return path, clientcmd.WriteToFile(*cfg, path)
}

// DeploymentArgs returns the controller flags of the manifest's Deployment.
func DeploymentArgs(manifest []byte) ([]string, error) {
	objs, err := Decode(manifest)
	if err != nil {
		return nil, err
	}
	for _, u := range objs {
		if u.GetKind() != "Deployment" {
			continue
		}
		cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		if len(cs) != 1 {
			return nil, fmt.Errorf("the Deployment has %d containers, want 1", len(cs))
		}
		args, _, _ := unstructured.NestedStringSlice(cs[0].(map[string]any), "args")
		return args, nil
	}
	return nil, errors.New("the manifest has no Deployment")
}

// OutOfCluster are the flags that, appended to the Deployment's, run the
// controller as a local process (pflag: the last value wins): no ports to
// bind, the given kubeconfig.
func OutOfCluster(kubeconfig string) []string {
	return []string{"--kubeconfig=" + kubeconfig, "--metrics-bind-address=0", "--health-probe-bind-address=0"}
}
