// Command trellis-localcluster is a multi-call binary that bundles the
// components of a local Kubernetes control plane: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok and kubectl. The first argument
// selects the component; every component still runs as its own process
// (pkg/localcluster starts one process per component).
//
// It lives in its own Go module so that the heavy Kubernetes dependencies stay
// out of trellis's main go.mod.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones in the controller-manager

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kwokconfig "sigs.k8s.io/kwok/pkg/config"
	kwokcmd "sigs.k8s.io/kwok/pkg/kwok/cmd"
	kwoklog "sigs.k8s.io/kwok/pkg/log"
	kwoksignals "sigs.k8s.io/kwok/pkg/utils/signals"
)

const usage = `usage: %s <component> [flags]

components:
  etcd                 etcd server
  apiserver            kube-apiserver
  controller-manager   kube-controller-manager
  scheduler            kube-scheduler
  kwok                 kwok (fake nodes and pods)
  kubectl              kubectl
`

func main() {
	name := filepath.Base(os.Args[0])
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, usage, name)
		os.Exit(2)
	}
	component := os.Args[1]
	// Each component sees itself as argv[0].
	os.Args = append([]string{component}, os.Args[2:]...)

	switch component {
	case "etcd":
		etcdmain.Main(os.Args)
	case "apiserver", "kube-apiserver":
		os.Exit(cli.Run(apiserver.NewAPIServerCommand()))
	case "controller-manager", "kube-controller-manager":
		os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
	case "scheduler", "kube-scheduler":
		os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
	case "kwok":
		os.Exit(runKwok())
	case "kubectl":
		runKubectl()
	case "-h", "--help", "help":
		fmt.Fprintf(os.Stdout, usage, name)
	default:
		fmt.Fprintf(os.Stderr, "%s: unknown component %q\n", name, component)
		fmt.Fprintf(os.Stderr, usage, name)
		os.Exit(2)
	}
}

func runKubectl() {
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) //nolint:errcheck
	if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
		kubectlutil.CheckErr(err)
	}
}

// runKwok does what kwok's own main does. The Kubernetes components linked
// into this binary register flags (for example --version) on the global flag
// sets at init time, so kwok gets fresh ones.
func runKwok() int {
	pflag.CommandLine = pflag.NewFlagSet(os.Args[0], pflag.ExitOnError)
	flag.CommandLine = flag.NewFlagSet(os.Args[0], flag.ExitOnError)

	global := pflag.NewFlagSet("global", pflag.ContinueOnError)
	global.ParseErrorsAllowlist.UnknownFlags = true
	global.Usage = func() {}

	ctx := kwoksignals.SetupSignalContext()
	ctx, logger := kwoklog.InitFlags(ctx, global)
	ctx, err := kwokconfig.InitFlags(ctx, global)
	if err != nil {
		logger.Error("kwok: init config flags", "err", err)
		return 1
	}
	command := kwokcmd.NewCommand(ctx)
	command.PersistentFlags().AddFlagSet(global)
	if err := command.ExecuteContext(ctx); err != nil {
		logger.Error("kwok: exit", "err", err)
		return 1
	}
	return 0
}
