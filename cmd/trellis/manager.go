package main

import (
	"context"
	goflag "flag"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/pflag"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/graph/resolver"
	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/shard"
	"github.com/trellis-dev/trellis/pkg/version"
)

// controllerOptions are the process-level settings of the controller manager
// plus the option sets of the packages that register controllers.
type controllerOptions struct {
	MetricsAddr             string
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	LeaseDuration           time.Duration
	RenewDeadline           time.Duration
	RetryPeriod             time.Duration
	GracefulShutdownTimeout time.Duration
	// skipNameValidation lets tests run the controllers twice in one process
	// (controller-runtime refuses a second controller of the same name).
	skipNameValidation bool
	QPS                float32
	Burst              int

	Operator operator.Options
	ACK      ack.Options
	Zap      zap.Options
}

// bindFlags registers all controller flags; metrics and probe defaults differ
// between `trellis controller` (kro's ports) and `trellis up` (off).
func (o *controllerOptions) bindFlags(fs *pflag.FlagSet, metricsDefault, probeDefault string) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", metricsDefault, "address the /metrics endpoint binds to (0 disables it)")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", probeDefault, "address the /healthz and /readyz endpoints bind to (0 disables them)")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "enable leader election, so that only one replica is active")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election lease (default: the in-cluster namespace)")
	fs.DurationVar(&o.LeaseDuration, "leader-election-lease-duration", 15*time.Second, "leader-election lease duration")
	fs.DurationVar(&o.RenewDeadline, "leader-election-renew-deadline", 10*time.Second, "leader-election renew deadline")
	fs.DurationVar(&o.RetryPeriod, "leader-election-retry-period", 2*time.Second, "leader-election retry period")
	fs.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", 60*time.Second, "how long to wait for controllers to stop on shutdown")
	fs.Float32Var(&o.QPS, "client-qps", 1000, "client-side request rate limit towards the apiserver (the apiserver's priority-and-fairness is the real limiter)")
	fs.IntVar(&o.Burst, "client-burst", 2000, "client-side request burst towards the apiserver")
	o.Operator.BindFlags(fs)
	o.ACK.BindFlags(fs)
	gfs := goflag.NewFlagSet("zap", goflag.ContinueOnError)
	o.Zap.BindFlags(gfs)
	fs.AddGoFlagSet(gfs)
}

// newScheme is the scheme the manager's clients use: the built-in Kubernetes
// types plus CustomResourceDefinitions. Controllers add their own types in Setup.
func newScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// runControllers builds a controller-runtime manager for cfg, registers the
// operator and ACK controllers and runs until ctx ends. `trellis controller`
// and `trellis up` both use it.
func runControllers(ctx context.Context, cfg *rest.Config, o *controllerOptions) error {
	return runControllersReady(ctx, cfg, o, nil)
}

// runControllersReady is runControllers that closes ready (if not nil) once
// the controllers are set up (trellis's CRDs installed when asked) and the
// manager's caches have synced: from then on, applied RGDs are reconciled.
func runControllersReady(ctx context.Context, cfg *rest.Config, o *controllerOptions, ready chan<- struct{}) error {
	if os.Getenv("GOGC") == "" {
		// The heap is mostly informer caches that live as long as the
		// process: collecting at 50% growth instead of Go's 100% keeps the
		// footprint near 1.5× the live heap for a few percent more CPU.
		debug.SetGCPercent(50)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.Zap)))
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = o.QPS
	cfg.Burst = o.Burst
	if cfg.UserAgent == "" {
		cfg.UserAgent = "trellis-controller/" + version.Version
	}
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Controller: ctrlconfig.Controller{SkipNameValidation: &o.skipNameValidation},
		Scheme:     scheme,
		// CRDs are watched for their names and conditions; schemas are read
		// when a kind is resolved. Whole, hundreds of large CRDs cost
		// hundreds of MiB (kro#724).
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&apiextensionsv1.CustomResourceDefinition{}: {Transform: resolver.SlimCRD},
		}},
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              "controller.trellis.dev",
		LeaderElectionNamespace:       o.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &o.LeaseDuration,
		RenewDeadline:                 &o.RenewDeadline,
		RetryPeriod:                   &o.RetryPeriod,
		GracefulShutdownTimeout:       &o.GracefulShutdownTimeout,
	})
	if err != nil {
		return fmt.Errorf("create controller manager: %w", err)
	}
	if o.ProbeAddr != "0" && o.ProbeAddr != "" {
		if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
			return err
		}
	}
	opOpts := o.Operator
	if opOpts.Sharding {
		if opOpts.Shard, err = o.shardConfig(); err != nil {
			return err
		}
	}
	if err := operator.Setup(mgr, opOpts); err != nil {
		return fmt.Errorf("set up trellis controllers: %w", err)
	}
	if err := ack.Setup(mgr, o.ACK); err != nil {
		return fmt.Errorf("set up ACK-compatible controllers: %w", err)
	}
	if ready != nil {
		go func() {
			if mgr.GetCache().WaitForCacheSync(ctx) {
				close(ready)
			}
		}()
	}
	return mgr.Start(ctx)
}

// shardConfig is the replica's Lease: in the leader-election namespace,
// with the leader-election timings, named by host and a random suffix.
func (o *controllerOptions) shardConfig() (shard.Config, error) {
	ns := o.LeaderElectionNamespace
	if ns == "" {
		b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
		if err != nil {
			return shard.Config{}, fmt.Errorf("--sharding: no namespace for the replicas' Leases: set --leader-election-namespace (or run in a pod)")
		}
		ns = strings.TrimSpace(string(b))
	}
	host, _ := os.Hostname()
	return shard.Config{
		Namespace:     ns,
		Name:          "trellis",
		Identity:      host + "_" + string(uuid.NewUUID())[:8],
		LeaseDuration: o.LeaseDuration,
		RenewDeadline: o.RenewDeadline,
		RetryPeriod:   o.RetryPeriod,
	}, nil
}
