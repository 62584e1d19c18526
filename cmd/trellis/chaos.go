package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellis-dev/trellis/pkg/chaos"
	"github.com/trellis-dev/trellis/pkg/version"
)

// chaosFlags are `trellis chaos`'s options; `trellis bench --chaos` runs
// the same with their defaults.
func bindChaosFlags(cmd *cobra.Command, o *chaos.Options) {
	f := cmd.Flags()
	f.IntVarP(&o.N, "n", "n", 1000, "BenchApp instances of every rollout")
	f.Int64SliceVar(&o.Seeds, "seeds", []int64{1, 2, 3}, "seeds of the controller kills (one kill scenario per seed)")
	f.IntVar(&o.AWSN, "aws-n", 100, "Buckets, Roles and SecurityGroups each in the ACK scenario (0 skips it)")
	f.IntVar(&o.Workers, "workers", 16, "the controller's instance workers")
	f.StringSliceVar(&o.Scenarios, "scenario", nil, "run only these scenarios (the baseline always runs)")
	f.DurationVar(&o.Settle, "settle", 5*time.Second, "wait after convergence before reading the write counters")
	f.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "bound of every phase's convergence")
	f.StringVar(&o.LogDir, "log-dir", "", "directory for the controller and moto logs (default: a temporary directory)")
	f.StringVar(&o.Binary, "controller-binary", "", "trellis binary whose controller runs (default: this binary)")
}

func newChaosCommand() *cobra.Command {
	var o chaos.Options
	cmd := &cobra.Command{
		Use:   "chaos",
		Short: "Kill, restart and starve trellis at the worst moments on a local control plane and check nothing is lost",
		Long: `Start a local control plane (etcd, kube-apiserver, kube-controller-manager) and
moto, run trellis's controller as a separate process with the benchmark workload
(BenchApp, five children per instance) and inject faults:

` + scenarioHelp() + `
After every phase the instances and their children are listed by kro's labels
and compared with what should exist (lost, duplicates, orphans, objects stuck
with a finalizer), the ACK resources through the AWS APIs against moto
(missing, duplicated, leaked), and the apiserver's writes are counted
(apiserver_request_total) and compared with the same phase without a fault.

A table is printed and written to <out>/chaos-<date>.json and .md; the command
fails when any check failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runChaos(cmd, o) },
	}
	bindChaosFlags(cmd, &o)
	cmd.Flags().StringVarP(&o.OutDir, "out", "o", "bench/results", "directory for chaos-<date>.json and .md (empty: do not write)")
	return cmd
}

func scenarioHelp() string {
	var b strings.Builder
	for _, s := range chaos.Scenarios() {
		fmt.Fprintf(&b, "  %-20s %s\n", s[0], s[1])
	}
	return b.String()
}

func runChaos(cmd *cobra.Command, o chaos.Options) error {
	ctx, stop := interruptContext()
	defer stop()
	if o.Binary == "" {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		o.Binary = self
	}
	o.Version = version.Version
	rep, err := chaos.Run(ctx, o)
	if rep != nil && len(rep.Rows) > 0 {
		fmt.Fprintln(cmd.OutOrStdout())
		fmt.Fprint(cmd.OutOrStdout(), rep.Markdown())
	}
	if err != nil {
		return err
	}
	if n := rep.Failed(); n > 0 {
		return fmt.Errorf("%d chaos phases failed their checks", n)
	}
	return nil
}
