package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellis-dev/trellis/pkg/bench"
	"github.com/trellis-dev/trellis/pkg/chaos"
	"github.com/trellis-dev/trellis/pkg/version"
)

func newBenchCommand() *cobra.Command {
	var (
		o             bench.Options
		controllerBin string
		extraArgs     []string
		extraEnv      []string
		rgdFile       string
		replicas      int
		asSA          string
		chaosRun      bool
		quick         bool
		scale         bool
		scaleFloor    bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark trellis against the physical floor on a local control plane",
		Long: `Start a local control plane (etcd, kube-apiserver, kube-controller-manager) and,
for every N, measure:

  floor    a plain client creates exactly what N BenchApps expand to (5 children,
           the Service's clusterIP read from its create response into a ConfigMap),
           plus one FloorApp object and one status write per instance, with
           --workers concurrent workers;
  trellis  N BenchApp instances (bench/rgd-bench.yaml) created with the same
           concurrency, until all are ACTIVE with status.clusterIP (watched),
           trellis's controller running as a separate process.

Reported per N: seconds to all-ACTIVE and trellis/floor; apiserver mutating
requests per instance (apiserver_request_total before/after, verbs POST, PUT,
PATCH, APPLY, DELETE, DELETECOLLECTION on the workload's resources); writes per
minute while idle (--idle at --idle-n); the controller's peak RSS (VmHWM) and
CPU seconds; the controller process restarted with all N ACTIVE (time to settle
against a fresh client's list+sync, and its writes: goal 0), and restarted again
with the RGD changed while it was down (goal: the changed child and the status
revision, once per instance); one RGD change (a label on a template) reaching
all N; deleting all N until every child is gone. Then --scale-workers on
--scale-n. --quick runs all of it on N=200 in a few minutes.

The big graphs of issue 18 run too (--graphs=false skips them): --graphs-deep-n DeepApps (40
children in 6 dependency levels, levels 2, 4 and 6 reading a Service's
clusterIP) and --graphs-fanout-n FanoutApps (a forEach of 200 ConfigMaps),
each against a floor creating the same objects level by level: seconds to
all-ACTIVE, writes per child and the controller's passes per instance.
-n 0 --scale-n 0 runs only them (with --quick: 10 and 2 instances).

A table is printed and the figures are written to <out>/<date>.json and .md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if chaosRun {
				// The chaos run with its defaults; `trellis chaos` has its flags.
				co := chaos.Options{N: 1000, Seeds: []int64{1, 2, 3}, AWSN: 100, OutDir: o.OutDir, LogDir: o.LogDir, Binary: controllerBin}
				return runChaos(cmd, co)
			}
			ctx, stop := interruptContext()
			defer stop()
			if controllerBin == "" {
				self, err := os.Executable()
				if err != nil {
					return err
				}
				controllerBin = self
			}
			if quick {
				quickDefaults(cmd, &o)
			}
			if rgdFile != "" {
				raw, err := os.ReadFile(rgdFile)
				if err != nil {
					return fmt.Errorf("--rgd: %w", err)
				}
				o.RGD = raw
			}
			o.SkipLargeFloor = !scaleFloor
			if scale && o.LargeN == 0 {
				o.LargeN = 20000
			}
			if o.LargeN > 0 && !cmd.Flags().Changed("timeout") {
				// The floor alone took 28.5 min to create 20,000 on 2 cores.
				o.Timeout = max(o.Timeout, 3*time.Hour)
			}
			o.Controller = bench.ProcessController(controllerBin, o.ProfileDir != "", extraArgs, extraEnv)
			o.ControllerArgs, o.ControllerEnv = extraArgs, extraEnv
			switch {
			case replicas < 1:
				return fmt.Errorf("--replicas: want at least 1, got %d", replicas)
			case replicas > 1:
				// Each replica takes a share of the instances, listing and
				// watching only it (ShardedListAndWatch on the local apiserver).
				args := append(append([]string{}, bench.ShardArgs...), extraArgs...)
				o.Controller = bench.Replicated(bench.ProcessController(controllerBin, false, args, extraEnv), replicas)
				o.FeatureGates = map[string]bool{"ShardedListAndWatch": true}
			}
			if asSA != "" {
				if err := bench.WithServiceAccount(&o, asSA); err != nil {
					return err
				}
			}
			o.Version = version.Version
			rep, err := bench.Run(ctx, o)
			if rep != nil && (len(rep.Runs) > 0 || len(rep.Graphs) > 0) {
				fmt.Fprintln(cmd.OutOrStdout())
				fmt.Fprint(cmd.OutOrStdout(), rep.Markdown())
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntSliceVarP(&o.Ns, "n", "n", []int{100, 1000, 5000}, "instance counts to run")
	f.IntVar(&o.Workers, "workers", 16, "trellis instance workers (--dynamic-controller-concurrent-reconciles) for the main runs")
	f.IntVar(&o.Concurrency, "concurrency", 0, "concurrency of the floor client and of the instance creates/deletes (default: --workers)")
	f.IntVar(&o.IdleN, "idle-n", 5000, "N at which writes are counted while idle")
	f.DurationVar(&o.Idle, "idle", time.Minute, "length of the idle window (0 skips it)")
	f.DurationVar(&o.Settle, "settle", 5*time.Second, "wait after all-ACTIVE and after the RGD change before reading the counters")
	f.IntVar(&o.ScaleN, "scale-n", 1000, "N of the worker comparison (0 skips it)")
	f.IntSliceVar(&o.ScaleWorkers, "scale-workers", []int{1, 4}, "worker counts to compare on --scale-n")
	f.IntVar(&o.Repeat, "repeat", 1, "run every N (floor, then trellis) and every worker count this many times and report medians")
	f.BoolVar(&o.FloorApply, "floor-apply", false, "also measure the floor with trellis's verbs (server-side apply, status patch) to separate apiserver cost from controller cost")
	f.StringVarP(&o.OutDir, "out", "o", "bench/results", "directory for <date>.json and <date>.md (empty: do not write)")
	f.StringVar(&o.LogDir, "log-dir", "", "directory for the controller logs (default: a temporary directory)")
	f.StringVar(&o.ProfileDir, "profile-dir", "", "write profiles here, per N: the controller's CPU (creation, restarts, deletion) and heap (at all-ACTIVE and half way through the deletion), kube-apiserver's CPU (8 s into the creation and into both deletions)")
	f.DurationVar(&o.Timeout, "timeout", 30*time.Minute, "bound of each floor and trellis phase, creation through deletion (with --scale: 3h unless given)")
	f.StringVar(&controllerBin, "controller-binary", "", "trellis binary whose controller command is measured (default: this binary)")
	f.StringArrayVar(&extraArgs, "controller-arg", nil, "extra flag for the controller, repeatable (e.g. --controller-arg=--ack-services=none)")
	f.StringArrayVar(&extraEnv, "controller-env", nil, "extra environment variable for the controller, repeatable (e.g. --controller-env=GOMEMLIMIT=128MiB)")
	f.IntVar(&o.LargeN, "scale-large-n", 0, "add one run at this N after -n: creation, controller memory and deletion against the floor (--scale sets 20000)")
	f.BoolVar(&scaleFloor, "scale-floor", true, "run the floor at --scale-large-n too (false: trellis alone, for its memory and goroutines; no time ratio)")
	f.BoolVar(&scale, "scale", false, "add the N=20,000 run (100,000 children; long: only when asked)")
	f.BoolVar(&quick, "quick", false, "a run of a few minutes: N=200, idle 20 s at N=200, workers compared on N=200, small graphs (flags given explicitly win)")
	f.IntVar(&replicas, "replicas", 1, "run this many controller replicas with --sharding (each its share of the instances; per-replica peak RSS and CPU reported; the single-controller RSS, CPU, queue and profile figures are then left out)")
	f.StringVar(&rgdFile, "rgd", "", "experiment: use this variant of the benchmark RGD (BenchApp with the same five children) instead of the built-in one")
	f.StringVar(&asSA, "service-account", "", "run the benchmark RGD with this identity (<namespace>/<name>, annotation trellis.dev/service-account), bound to exactly its child kinds: every child write is impersonated")
	f.BoolVar(&o.Graphs, "graphs", true, "run the big graphs (issue 18): a DeepApp of 40 children in 6 levels and a FanoutApp with a forEach of 200, each against a floor creating the same objects (-n 0 --scale-n 0 runs them alone; --graphs=false skips them)")
	f.IntVar(&o.GraphsDeepN, "graphs-deep-n", 50, "DeepApp instances of --graphs (0 skips the deep graph)")
	f.IntVar(&o.GraphsFanoutN, "graphs-fanout-n", 10, "FanoutApp instances of --graphs (0 skips the fanout)")
	f.BoolVar(&chaosRun, "chaos", false, "run `trellis chaos` (its default scenarios and sizes, --out, --log-dir, --controller-binary) instead of the benchmark")
	cmd.AddCommand(newBenchControllerCommand())
	return cmd
}

// quickDefaults are --quick's sizes, for the flags not given explicitly:
// every phase runs, on N=200, in a few minutes on 2 cores.
func quickDefaults(cmd *cobra.Command, o *bench.Options) {
	set := func(flag string, apply func()) {
		if !cmd.Flags().Changed(flag) {
			apply()
		}
	}
	set("n", func() { o.Ns = []int{200} })
	set("idle-n", func() { o.IdleN = 200 })
	set("idle", func() { o.Idle = 20 * time.Second })
	set("scale-n", func() { o.ScaleN = 200 })
	set("settle", func() { o.Settle = 2 * time.Second })
	set("graphs-deep-n", func() { o.GraphsDeepN = 10 })
	set("graphs-fanout-n", func() { o.GraphsFanoutN = 2 })
}

// newBenchControllerCommand is `trellis controller` plus a profiling
// endpoint; `trellis bench --profile-dir` runs it instead of `controller`.
func newBenchControllerCommand() *cobra.Command {
	var (
		kubeconfig string
		pprofAddr  string
	)
	opts := &controllerOptions{}
	cmd := &cobra.Command{
		Use:    "controller",
		Short:  "trellis controller with a profiling endpoint (used by trellis bench --profile-dir)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(kubeconfig)
			if err != nil {
				return err
			}
			if pprofAddr != "" {
				go func() { _ = http.ListenAndServe(pprofAddr, bench.ProfileMux()) }()
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runControllers(ctx, cfg, opts)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "path to a kubeconfig")
	cmd.Flags().StringVar(&pprofAddr, "pprof-bind-address", "", "address for /debug/pprof and the benchmark's profile start/stop endpoints")
	opts.bindFlags(cmd.Flags(), "0", "0")
	return cmd
}
