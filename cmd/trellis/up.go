package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/trellis-dev/trellis/pkg/localcluster"
)

// defaultKubeconfigPath is where `trellis up` writes its kubeconfig and where
// `trellis kubectl` looks for it.
func defaultKubeconfigPath() string {
	return filepath.Join(localcluster.CacheRoot(), "up", "kubeconfig")
}

func newUpCommand() *cobra.Command {
	var (
		dataDir    string
		kubeconfig string
		nodes      int
		port       int
		buildOnly  bool
	)
	opts := &controllerOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local control plane with trellis's controllers (until Ctrl-C)",
		Long: `Start a local Kubernetes control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok fake nodes) and trellis's
controllers in this process, write an admin kubeconfig and run until Ctrl-C.

The control plane is built from source into the cache directory on first use
(about 10-15 minutes on 2 cores); later starts take seconds. Without --data-dir
every run starts with an empty cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if buildOnly {
				b, err := localcluster.EnsureBinary(ctx, os.Stderr)
				if err == nil {
					fmt.Fprintf(os.Stderr, "trellis: local control plane binary: %s\n", b.Path)
				}
				return err
			}
			return up(ctx, stop, opts, upOptions{dataDir: dataDir, kubeconfig: kubeconfig, nodes: nodes, port: port})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "keep etcd data and certificates in this directory between runs (default: a fresh temporary cluster)")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig-out", defaultKubeconfigPath(), "where to write the admin kubeconfig")
	cmd.Flags().IntVar(&nodes, "nodes", 1, "number of fake (kwok) nodes")
	cmd.Flags().IntVar(&port, "port", 0, "apiserver port on 127.0.0.1 (default: a free port)")
	cmd.Flags().BoolVar(&buildOnly, "build-only", false, "only build the local control-plane binary into the cache (if missing), then exit")
	opts.bindFlags(cmd.Flags(), "0", "0")
	return cmd
}

type upOptions struct {
	dataDir    string
	kubeconfig string
	nodes      int
	port       int
}

// up runs the local control plane and the controllers until ctx ends.
// restoreSignals is called once shutdown begins, so that a second Ctrl-C
// ends trellis at once (the kernel then kills the components: Pdeathsig).
func up(ctx context.Context, restoreSignals func(), opts *controllerOptions, uo upOptions) error {
	start := time.Now()
	lo := localcluster.Full()
	lo.Nodes = uo.nodes
	lo.APIServerPort = uo.port
	lo.Log = os.Stderr
	if uo.dataDir != "" {
		d, err := filepath.Abs(uo.dataDir)
		if err != nil {
			return err
		}
		lo.DataDir = d
		lo.Dir = d
	}
	cluster, err := localcluster.Start(ctx, lo)
	if err != nil {
		return err
	}
	defer cluster.Stop()

	kubeconfig := uo.kubeconfig
	if kubeconfig == "" {
		kubeconfig = cluster.Kubeconfig
	} else {
		data, err := os.ReadFile(cluster.Kubeconfig)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(kubeconfig, data, 0o600); err != nil {
			return err
		}
		defer func() {
			// The kubeconfig points at a cluster that is gone; remove it
			// unless another run has replaced it meanwhile.
			if cur, err := os.ReadFile(kubeconfig); err == nil && string(cur) == string(data) {
				os.Remove(kubeconfig)
			}
		}()
	}

	ctrlCtx, cancelCtrl := context.WithCancel(ctx)
	defer cancelCtrl()
	ctrlErr := make(chan error, 1)
	go func() { ctrlErr <- runControllers(ctrlCtx, cluster.Config, opts) }()

	data := "temporary, removed on exit"
	if uo.dataDir != "" {
		data = "kept in " + lo.DataDir
	}
	fmt.Fprintf(os.Stderr, `
trellis is up (%s): etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (%d fake node(s)), trellis controllers

  kubeconfig:  %s
  apiserver:   %s
  logs:        %s
  etcd data:   %s

  kubectl --kubeconfig %s get nodes
  trellis kubectl get nodes          (uses that kubeconfig)
  export KUBECONFIG=%s

Press Ctrl-C to stop.
`, time.Since(start).Round(100*time.Millisecond), lo.Nodes, kubeconfig, cluster.Host,
		filepath.Join(cluster.Dir, "logs"), data, shellQuote(kubeconfig), shellQuote(kubeconfig))

	var runErr error
	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "\ntrellis: stopping (Ctrl-C again to kill)")
	case <-cluster.Done():
		runErr = fmt.Errorf("local control plane failed: %w", cluster.Err())
	case err := <-ctrlErr:
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		runErr = fmt.Errorf("controllers: %w", err)
		ctrlErr <- nil
	}
	restoreSignals()
	cancelCtrl()
	select {
	case <-ctrlErr:
	case <-time.After(opts.GracefulShutdownTimeout + 5*time.Second):
	}
	cluster.Stop()
	return runErr
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " '\"$`\\!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
