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
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	cliflag "k8s.io/component-base/cli/flag"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	internalv1alpha1 "github.com/trellis-dev/trellis/api/graphrevision/v1alpha1"
	"github.com/trellis-dev/trellis/api/v1alpha1"
	crds "github.com/trellis-dev/trellis/config/crd"
	"github.com/trellis-dev/trellis/pkg/admission"
	"github.com/trellis-dev/trellis/pkg/controller/instance"
	"github.com/trellis-dev/trellis/pkg/controller/rgd"
	"github.com/trellis-dev/trellis/pkg/events"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/graph/resolver"
	"github.com/trellis-dev/trellis/pkg/identity"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
	"github.com/trellis-dev/trellis/pkg/shard"
	"github.com/trellis-dev/trellis/pkg/version"
)

// FieldManager is trellis's name in server-side apply.
const FieldManager = "trellis"

// identityClients bounds the impersonating clients kept (one per
// ServiceAccount that RGDs act as).
const identityClients = 256

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
	// Sharding splits the instances across the replicas (see pkg/shard);
	// the Lease settings come from the process (cmd/trellis).
	Sharding bool
	Shard    shard.Config
	// OnReconcile, if set, is called as each instance reconcile starts,
	// with the instance's UID; the returned func when it ends (tests).
	OnReconcile func(uid string) (done func())
	// DefaultServiceAccount ("<namespace>/<name>" or
	// "{instance-namespace}/<name>") is the identity of RGDs without the
	// trellis.dev/service-account annotation; "" keeps trellis's own.
	DefaultServiceAccount string
	// ConfineChildren keeps namespaced children in their instance's
	// namespace unless an RGD has trellis.dev/allow-cross-namespace: "true".
	ConfineChildren bool
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
	fs.BoolVar(&o.Sharding, "sharding", false, "split the instances across every replica running with --sharding (one Lease each in the leader-election namespace, ranges of the instance UID hash); the API server's ShardedListAndWatch feature gate, if on, makes each replica list and watch only its share")
	fs.StringVar(&o.DefaultServiceAccount, "default-service-account", "", "ServiceAccount that instances of ResourceGraphDefinitions without the trellis.dev/service-account annotation act as: <namespace>/<name>, or {instance-namespace}/<name> for the one in each instance's namespace (default: trellis's own identity, as kro)")
	fs.BoolVar(&o.ConfineChildren, "confine-children", false, "refuse namespaced children outside their instance's namespace unless the ResourceGraphDefinition has trellis.dev/allow-cross-namespace: \"true\"")
	fs.BoolVar(&o.OrphanInstances, "allow-rgd-deletion-with-instances", false, "let a ResourceGraphDefinition be deleted while instances of its kind exist (per RGD: annotation trellis.dev/orphan-instances: \"true\"); the instances stay deletable")
}

// Controllers are what Setup registered.
type Controllers struct {
	Instances *instance.Controller
	// Ring hands this replica its share of the instances (nil without
	// sharding).
	Ring *shard.Ring
}

// Setup registers every trellis controller with mgr.
func Setup(mgr ctrl.Manager, opts Options) error {
	_, err := SetupControllers(mgr, opts)
	return err
}

// SetupControllers is Setup returning the controllers it registered.
func SetupControllers(mgr ctrl.Manager, opts Options) (*Controllers, error) {
	out := &Controllers{}
	return out, setup(mgr, opts, out)
}

func setup(mgr ctrl.Manager, opts Options, out *Controllers) error {
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
	policy := identity.Policy{ConfineChildren: opts.ConfineChildren}
	if opts.DefaultServiceAccount != "" {
		def, err := identity.Parse(opts.DefaultServiceAccount)
		if err != nil {
			return fmt.Errorf("--default-service-account: %w", err)
		}
		policy.Default = &def
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
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := identity.EnsurePolicy(context.Background(), kube, FieldManager); err != nil {
		// Keep serving every RGD that does not name a fixed identity (all of
		// kro's); only those that do wait for the policy (restart once granted).
		policy.Unguarded = err
		ctrl.Log.WithName("identity").Error(err, "RGDs naming a fixed ServiceAccount in "+identity.Annotation+" are refused until the admission policy can be installed (grant create and patch on validatingadmissionpolicies and validatingadmissionpolicybindings, then restart)")
	}
	access := identity.NewReviewer(kube)
	recorder, stopEvents := events.New(kube)
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		stopEvents()
		return nil
	})); err != nil {
		return err
	}
	serverSide := false
	if opts.Sharding {
		if serverSide, err = shard.ServerSide(context.Background(), kube, opts.Shard.Namespace); err != nil {
			return fmt.Errorf("sharding: probing the API server: %w", err)
		}
		logShardMode(serverSide)
	}
	instances := instance.New(dyn, raw, ctrl.Log.WithName("instance"), instance.Options{
		Events:           recorder,
		Workers:          opts.InstanceWorkers,
		FieldManager:     FieldManager,
		Version:          version.Label(),
		ChildLabels:      opts.ChildLabels,
		Identity:         policy,
		Clients:          identity.NewClients(cfg, identityClients),
		Access:           access,
		Sharded:          opts.Sharding,
		ServerSideShards: serverSide,
		OnReconcile:      opts.OnReconcile,
	})
	out.Instances = instances
	if err := mgr.Add(instances); err != nil {
		return err
	}
	if opts.Sharding {
		ring, err := shard.NewRing(kube, opts.Shard, instances, ctrl.Log.WithName("shard"))
		if err != nil {
			return err
		}
		if err := mgr.Add(ring); err != nil {
			return err
		}
		out.Ring = ring
	}
	var policies *admission.Policies
	if !opts.NoAdmissionPolicy {
		policies = admission.NewPolicies(kube, ctrl.Log.WithName("admission"))
	}
	r := &rgd.Reconciler{
		Client:           mgr.GetClient(),
		Resolver:         liveResolver(dc, mgr),
		CRDReader:        mgr.GetAPIReader(),
		Instances:        instances,
		AllowCRDDeletion: opts.AllowCRDDeletion,
		OrphanInstances:  opts.OrphanInstances,
		MaxRevisions:     opts.MaxGraphRevisions,
		GraphOptions:     graph.Options{Omit: opts.FeatureGates["CELOmitFunction"]},
		Version:          version.Label(),
		Admission:        policies,
		Events:           recorder,
		EveryReplica:     opts.Sharding,
		Identity:         policy,
		Access:           access,
	}
	if opts.RGDWorkers < 1 {
		opts.RGDWorkers = 1
	}
	return r.SetupWithManager(mgr, opts.RGDWorkers)
}

// logShardMode says at start-up how this replica gets its share.
func logShardMode(serverSide bool) {
	log := ctrl.Log.WithName("shard")
	if serverSide {
		log.Info("sharding: the API server serves sharded list/watch (ShardedListAndWatch): this replica lists and watches only its instances; children are filtered by their instance's label")
		return
	}
	log.Info("sharding: the API server does not serve sharded list/watch (feature gate ShardedListAndWatch off): falling back to client-side filtering, this replica receives every instance and child and caches and reconciles only its share")
}

// crdUnchanged reports whether writing next over live would change
// nothing but the resource version.
func crdUnchanged(live, next *extv1.CustomResourceDefinition) bool {
	return equality.Semantic.DeepEqual(live.Spec, next.Spec) &&
		equality.Semantic.DeepEqual(live.Labels, next.Labels) &&
		equality.Semantic.DeepEqual(live.Annotations, next.Annotations)
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
		// A restart must not rewrite an unchanged CRD: a dry run applies
		// the server's defaults, so its result compares with live as is.
		dry, err := api.Update(ctx, want, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return fmt.Errorf("upgrading CRD %s (dry run): %w", want.Name, err)
		}
		if crdUnchanged(live, dry) {
			break
		}
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

// liveResolver resolves kinds from the manager's CRD cache, reading the
// schema of the one CRD a kind needs from the API server.
func liveResolver(dc discovery.DiscoveryInterface, mgr manager.Manager) *resolver.Live {
	l := resolver.NewLive(dc, mgr.GetClient())
	l.Full = mgr.GetAPIReader()
	return l
}
