// Package operator wires trellis's controllers into a controller-runtime
// manager. cmd/trellis owns process concerns (flags for the manager, leader
// election, probes); this package owns what runs inside.
package operator

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/pflag"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	cliflag "k8s.io/component-base/cli/flag"
	ctrl "sigs.k8s.io/controller-runtime"

	internalv1alpha1 "github.com/trellis-dev/trellis/api/graphrevision/v1alpha1"
	"github.com/trellis-dev/trellis/api/v1alpha1"
	crds "github.com/trellis-dev/trellis/config/crd"
	"github.com/trellis-dev/trellis/pkg/admission"
	"github.com/trellis-dev/trellis/pkg/controller/instance"
	"github.com/trellis-dev/trellis/pkg/controller/rgd"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/graph/resolver"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
	"github.com/trellis-dev/trellis/pkg/version"
)

// FieldManager is trellis's name in server-side apply.
const FieldManager = "trellis"

// Options configures the RGD and instance controllers.
type Options struct {
	// InstanceWorkers is the number of parallel instance reconcilers.
	InstanceWorkers int
	// RGDWorkers is the number of parallel RGD reconcilers.
	RGDWorkers int
	// AllowCRDDeletion deletes an RGD's generated CRD when the RGD is deleted.
	AllowCRDDeletion bool
	// InstallCRDs installs or upgrades the ResourceGraphDefinition CRD on start.
	InstallCRDs bool
	// OrphanInstances lets an RGD be deleted while instances of its kind exist.
	OrphanInstances bool
	// MaxGraphRevisions is how many GraphRevisions are kept per RGD.
	MaxGraphRevisions int
	// FeatureGates, as kro's: CELOmitFunction=true enables omit().
	FeatureGates map[string]bool
	// ChildLabels selects the labels children carry (default lean).
	ChildLabels trt.ChildLabelSet
	// NoAdmissionPolicy turns off the MutatingAdmissionPolicy per RGD that
	// stamps new instances with their finalizer and labels.
	NoAdmissionPolicy bool
}

// BindFlags registers the controllers' flags on fs.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&o.InstanceWorkers, "dynamic-controller-concurrent-reconciles", 16, "parallel instance reconcilers")
	fs.IntVar(&o.RGDWorkers, "resource-graph-definition-concurrent-reconciles", 4, "parallel ResourceGraphDefinition reconcilers")
	fs.BoolVar(&o.AllowCRDDeletion, "allow-crd-deletion", false, "delete the generated CRD when its ResourceGraphDefinition is deleted")
	fs.BoolVar(&o.InstallCRDs, "install-crds", true, "install or upgrade the ResourceGraphDefinition and GraphRevision CRDs on start")
	fs.IntVar(&o.MaxGraphRevisions, "rgd-max-graph-revisions", 5, "graph revisions kept per ResourceGraphDefinition")
	fs.Var(cliflag.NewMapStringBool(&o.FeatureGates), "feature-gates", "feature gates, e.g. CELOmitFunction=true (omit() in templates)")
	fs.Var(ChildLabelsFlag{V: &o.ChildLabels}, "child-labels", ChildLabelsUsage)
	fs.BoolVar(&o.NoAdmissionPolicy, "no-admission-policy", false, "do not keep a MutatingAdmissionPolicy per ResourceGraphDefinition that stamps new instances with their finalizer and labels at creation (the controller then patches them in: one more write per instance)")
	fs.BoolVar(&o.OrphanInstances, "allow-rgd-deletion-with-instances", false, "let a ResourceGraphDefinition be deleted while instances of its kind exist (per RGD: annotation trellis.dev/orphan-instances: \"true\"); the instances stay deletable")
}

// Setup registers every trellis controller with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	if err := v1alpha1.AddToScheme(mgr.GetScheme()); err != nil {
		return err
	}
	if err := extv1.AddToScheme(mgr.GetScheme()); err != nil {
		return err
	}
	if err := internalv1alpha1.AddToScheme(mgr.GetScheme()); err != nil {
		return err
	}
	for gate := range opts.FeatureGates {
		if gate != "CELOmitFunction" {
			return fmt.Errorf("--feature-gates: unknown feature gate %q (known: CELOmitFunction)", gate)
		}
	}
	cfg := mgr.GetConfig()
	if opts.InstallCRDs {
		for _, load := range []func() (*extv1.CustomResourceDefinition, error){crds.ResourceGraphDefinition, crds.GraphRevision} {
			want, err := load()
			if err != nil {
				return err
			}
			if err := installCRD(context.Background(), apiextclient.NewForConfigOrDie(cfg), want); err != nil {
				return err
			}
		}
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	raw, err := instance.NewRawClient(cfg)
	if err != nil {
		return err
	}
	instances := instance.New(dyn, raw, ctrl.Log.WithName("instance"), instance.Options{
		Workers:      opts.InstanceWorkers,
		FieldManager: FieldManager,
		Version:      version.Label(),
		ChildLabels:  opts.ChildLabels,
	})
	if err := mgr.Add(instances); err != nil {
		return err
	}
	var policies *admission.Policies
	if !opts.NoAdmissionPolicy {
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		policies = admission.NewPolicies(kube, ctrl.Log.WithName("admission"))
	}
	r := &rgd.Reconciler{
		Client:           mgr.GetClient(),
		Resolver:         resolver.NewLive(dc, mgr.GetClient()),
		Instances:        instances,
		AllowCRDDeletion: opts.AllowCRDDeletion,
		OrphanInstances:  opts.OrphanInstances,
		MaxRevisions:     opts.MaxGraphRevisions,
		GraphOptions:     graph.Options{Omit: opts.FeatureGates["CELOmitFunction"]},
		Version:          version.Label(),
		Admission:        policies,
	}
	if opts.RGDWorkers < 1 {
		opts.RGDWorkers = 1
	}
	return r.SetupWithManager(mgr, opts.RGDWorkers)
}

// installCRD creates or upgrades one of trellis's CRDs and waits until it
// is served.
func installCRD(ctx context.Context, c apiextclient.Interface, want *extv1.CustomResourceDefinition) error {
	api := c.ApiextensionsV1().CustomResourceDefinitions()
	live, err := api.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if _, err := api.Create(ctx, want, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("installing CRD %s: %w", want.Name, err)
		}
	case err != nil:
		return fmt.Errorf("reading CRD %s: %w", want.Name, err)
	default:
		want.ResourceVersion = live.ResourceVersion
		if _, err := api.Update(ctx, want, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("upgrading CRD %s: %w", want.Name, err)
		}
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := api.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range got.Status.Conditions {
			if c.Type == extv1.Established && c.Status == extv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}
