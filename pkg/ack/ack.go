// Package ack runs trellis's ACK-compatible controllers: AWS resources as
// Kubernetes objects, with the API (group, kinds, field names, annotations,
// conditions, finalizers) of AWS Controllers for Kubernetes. See
// pkg/ack/runtime for the reconcile loop and pkg/ack/<service> for the kinds.
package ack

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	ackcrds "github.com/trellis-dev/trellis/config/crd/ack"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// Defaults.
const (
	// DefaultResyncPeriod is how often a synced resource is read again and
	// drift corrected. ACK's default is 10h; reads here are cheap (only the
	// managed configurations), so trellis resyncs every 30 minutes.
	DefaultResyncPeriod = 30 * time.Minute
	// DefaultNotSyncedRequeue is the requeue delay while a resource has not
	// reached its desired state (ACK: 30s).
	DefaultNotSyncedRequeue = 15 * time.Second
	// DefaultAccountID is used when STS GetCallerIdentity does not answer.
	DefaultAccountID = "000000000000"
)

// Options configures the ACK-compatible controllers.
type Options struct {
	// Services lists the enabled services ("all", "none", or e.g. "s3,dynamodb").
	Services string
	// InstallCRDs installs or upgrades the ACK CRDs on start.
	InstallCRDs bool
	// CRDEstablishTimeout bounds the wait for installed CRDs to be established.
	CRDEstablishTimeout time.Duration
	// Runtime holds the settings shared by every kind.
	Runtime ackrt.Config
}

// BindFlags registers the ACK flags on fs.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Services, "ack-services", "all", "ACK-compatible services to run: all, none, or a comma-separated list of "+strings.Join(ServiceNames(), ","))
	fs.BoolVar(&o.InstallCRDs, "ack-install-crds", true, "install or upgrade the ACK CRDs of the enabled services on start (turn off when CRDs are managed elsewhere)")
	fs.DurationVar(&o.CRDEstablishTimeout, "ack-crd-establish-timeout", time.Minute, "how long to wait for installed ACK CRDs to be established")
	fs.StringVar(&o.Runtime.Region, "aws-region", ackrt.EnvRegion(), "default AWS region of ACK resources (annotation services.k8s.aws/region overrides it)")
	fs.StringVar(&o.Runtime.DefaultAccountID, "ack-default-account-id", DefaultAccountID, "account id used when STS GetCallerIdentity does not answer")
	fs.StringVar(&o.Runtime.DeletionPolicy, "ack-deletion-policy", ackv1alpha1.DeletionPolicyDelete, "default deletion policy of ACK resources: delete or retain (annotation services.k8s.aws/deletion-policy overrides it)")
	fs.DurationVar(&o.Runtime.ResyncPeriod, "ack-resync-period", DefaultResyncPeriod, "how often synced ACK resources are read from AWS and drift corrected")
	fs.DurationVar(&o.Runtime.NotSyncedRequeue, "ack-requeue-not-synced", DefaultNotSyncedRequeue, "requeue delay while an ACK resource has not reached its desired state")
	fs.IntVar(&o.Runtime.MaxConcurrentSyncs, "ack-max-concurrent-syncs", 2, "parallel reconciles per ACK kind")
	fs.StringVar(&o.Runtime.EndpointURL, "aws-endpoint-url", "", "send every AWS call to this endpoint, e.g. a local AWS-compatible server (default: AWS's endpoints; AWS_ENDPOINT_URL also works)")
	fs.BoolVar(&o.Runtime.S3UsePathStyle, "ack-s3-use-path-style", false, "address S3 buckets path-style (for S3-compatible servers)")
}

// DefaultOptions returns the flag defaults.
func DefaultOptions() Options {
	var o Options
	fs := pflag.NewFlagSet("ack", pflag.ContinueOnError)
	o.BindFlags(fs)
	return o
}

// service registers one service's kinds.
type service struct {
	name   string
	crds   []string
	scheme func(*runtime.Scheme) error
	setup  func(mgr ctrl.Manager, aws *ackrt.AWS, cfg ackrt.Config) error
}

// services holds every registered service, sorted by name; each service
// registers itself from its own file (service_<name>.go) with register.
var services []service

// register adds a service; called from init in service_<name>.go.
func register(s service) {
	services = append(services, s)
	sort.Slice(services, func(i, j int) bool { return services[i].name < services[j].name })
}

// ServiceNames lists the services trellis implements.
func ServiceNames() []string {
	var n []string
	for _, s := range services {
		n = append(n, s.name)
	}
	sort.Strings(n)
	return n
}

func (o Options) enabled() ([]service, error) {
	v := strings.TrimSpace(strings.ToLower(o.Services))
	switch v {
	case "none":
		return nil, nil
	case "", "all":
		return services, nil
	}
	var out []service
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		found := false
		for _, s := range services {
			if s.name == name {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("--ack-services: unknown service %q (have %s)", name, strings.Join(ServiceNames(), ", "))
		}
	}
	return out, nil
}

// Setup registers the enabled ACK services with mgr. It installs or
// upgrades their CRDs first (unless turned off) and waits until they are
// established, so that the watches can start.
func Setup(mgr ctrl.Manager, opts Options) error {
	log := ctrl.Log.WithName("ack")
	enabled, err := opts.enabled()
	if err != nil {
		return err
	}
	if len(enabled) == 0 {
		log.Info("ACK controllers disabled")
		return nil
	}
	switch opts.Runtime.DeletionPolicy {
	case "", ackv1alpha1.DeletionPolicyDelete, ackv1alpha1.DeletionPolicyRetain:
	default:
		return fmt.Errorf("--ack-deletion-policy: %q is neither delete nor retain", opts.Runtime.DeletionPolicy)
	}
	if opts.Runtime.DefaultAccountID == "" {
		opts.Runtime.DefaultAccountID = DefaultAccountID
	}
	if opts.Runtime.ResyncPeriod <= 0 {
		opts.Runtime.ResyncPeriod = DefaultResyncPeriod
	}
	if opts.Runtime.NotSyncedRequeue <= 0 {
		opts.Runtime.NotSyncedRequeue = DefaultNotSyncedRequeue
	}
	ctx := context.Background()
	if opts.InstallCRDs {
		var names []string
		for _, s := range enabled {
			names = append(names, s.crds...)
		}
		timeout := opts.CRDEstablishTimeout
		if timeout <= 0 {
			timeout = time.Minute
		}
		if err := InstallCRDs(ctx, mgr.GetConfig(), names, timeout); err != nil {
			return err
		}
	}
	aws, err := ackrt.LoadAWS(ctx, opts.Runtime, log)
	if err != nil {
		return fmt.Errorf("loading AWS configuration: %w", err)
	}
	opts.Runtime.Region = aws.Region()
	for _, s := range enabled {
		if err := s.scheme(mgr.GetScheme()); err != nil {
			return err
		}
		if err := s.setup(mgr, aws, opts.Runtime); err != nil {
			return fmt.Errorf("ack %s: %w", s.name, err)
		}
		log.Info("ACK service enabled", "service", s.name)
	}
	return nil
}

// InstallCRDs creates or updates the named embedded CRDs (replacing, for
// example, ACK's own) and waits until they are established. It uses a direct
// client: the manager's cache does not run yet.
func InstallCRDs(ctx context.Context, cfg *rest.Config, names []string, timeout time.Duration) error {
	scheme := runtime.NewScheme()
	if err := apiextv1.AddToScheme(scheme); err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	all, err := ackcrds.CRDs()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, crd := range all {
		if !want[crd.Name] {
			continue
		}
		// The API server writes a new CRD's status meanwhile: a conflict
		// means read again, not fail the start.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error { return installCRD(ctx, c, crd) }); err != nil {
			return err
		}
	}
	for name := range want {
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
			crd := &apiextv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: name}, crd); err != nil {
				return false, nil
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", name, err)
		}
	}
	return nil
}

// installCRD creates crd or upgrades the live one to it; an unchanged CRD
// is not written (a restart must write nothing): a dry run applies the
// server's defaults, so its result compares with the live CRD as is.
func installCRD(ctx context.Context, c client.Client, crd *apiextv1.CustomResourceDefinition) error {
	existing := &apiextv1.CustomResourceDefinition{}
	err := c.Get(ctx, client.ObjectKey{Name: crd.Name}, existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := c.Create(ctx, crd.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating CRD %s: %w", crd.Name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading CRD %s: %w", crd.Name, err)
	}
	updated := existing.DeepCopy()
	updated.Spec = crd.Spec
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	for k, v := range crd.Labels {
		updated.Labels[k] = v
	}
	dry := updated.DeepCopy()
	if err := c.Update(ctx, dry, client.DryRunAll); err != nil {
		return fmt.Errorf("upgrading CRD %s (dry run): %w", crd.Name, err)
	}
	if equality.Semantic.DeepEqual(existing.Spec, dry.Spec) && equality.Semantic.DeepEqual(existing.Labels, dry.Labels) {
		return nil
	}
	if err := c.Update(ctx, updated); err != nil {
		return fmt.Errorf("upgrading CRD %s: %w", crd.Name, err)
	}
	return nil
}
