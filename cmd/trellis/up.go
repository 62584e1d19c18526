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
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

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
		awsLocal   bool
		buildKro   bool
	)
	opts := &controllerOptions{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start a local control plane with trellis's controllers (until Ctrl-C)",
		Long: `Start a local Kubernetes control plane (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok fake nodes) and trellis's
controllers in this process, write an admin kubeconfig and run until Ctrl-C.

The control plane is built from source into the cache directory on first use
(about 10-15 minutes on 2 cores); later starts take seconds to tens of seconds,
depending on the load (the banner says how long). Without --data-dir
every run starts with an empty cluster.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if buildOnly {
				b, err := localcluster.EnsureBinary(ctx, os.Stderr)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "trellis: local control plane binary: %s\n", b.Path)
				if buildKro {
					k, err := localcluster.EnsureKro(ctx, os.Stderr)
					if err != nil {
						return err
					}
					fmt.Fprintf(os.Stderr, "trellis: kro %s (the switch tests' peer): %s\n", localcluster.KroVersion, k.Path)
				}
				return nil
			}
			if !cmd.Flags().Changed("zap-encoder") {
				// A terminal, not a log pipeline: readable lines under the
				// banner (`trellis controller` keeps JSON).
				zap.ConsoleEncoder()(&opts.Zap)
			}
			return up(ctx, stop, opts, upOptions{dataDir: dataDir, kubeconfig: kubeconfig, nodes: nodes, port: port, awsLocal: awsLocal})
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "keep etcd data and certificates in this directory between runs (default: a fresh temporary cluster)")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig-out", defaultKubeconfigPath(), "where to write the admin kubeconfig")
	cmd.Flags().IntVar(&nodes, "nodes", 1, "number of fake (kwok) nodes")
	cmd.Flags().IntVar(&port, "port", 0, "apiserver port on 127.0.0.1 (default: a free port)")
	cmd.Flags().BoolVar(&awsLocal, "aws-local", false, "also start a local AWS (moto_server: IAM, STS, EC2, RDS, Secrets Manager, SQS, S3, DynamoDB) and point the ACK controllers at it, for the seed demo with no AWS account")
	cmd.Flags().BoolVar(&buildOnly, "build-only", false, "only build the local control-plane binary into the cache (if missing), then exit")
	cmd.Flags().BoolVar(&buildKro, "build-kro", false, "with --build-only: also build kro's controller (the peer of the switch tests in pkg/kroswitch) into the cache")
	opts.bindFlags(cmd.Flags(), "0", "0")
	return cmd
}

type upOptions struct {
	dataDir    string
	kubeconfig string
	nodes      int
	port       int
	awsLocal   bool
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

	if abs, err := filepath.Abs(kubeconfig); err == nil {
		kubeconfig = abs
	}
	defer recordKubeconfig(kubeconfig)()

	awsLine := ""
	if uo.awsLocal {
		srv, err := startLocalAWS(ctx, cluster.Config, filepath.Join(cluster.Dir, "logs"), opts)
		if err != nil {
			return fmt.Errorf("--aws-local: %w", err)
		}
		defer srv.Stop()
		if kubeconfig != cluster.Kubeconfig {
			// For `trellis demo`; removed with the kubeconfig.
			ep := awsEndpointPath(kubeconfig)
			if err := os.WriteFile(ep, []byte(srv.Endpoint+"\n"), 0o600); err != nil {
				return err
			}
			defer os.Remove(ep)
		}
		awsLine = fmt.Sprintf("  local AWS:   %s (moto_server, region %s, state in memory; AWS_ENDPOINT_URL=%s with any key)\n",
			srv.Endpoint, opts.ACK.Runtime.Region, srv.Endpoint)
	}

	ctrlCtx, cancelCtrl := context.WithCancel(ctx)
	defer cancelCtrl()
	ctrlErr := make(chan error, 1)
	clusterUp := time.Since(start)
	ready := make(chan struct{})
	go func() { ctrlErr <- runControllersReady(ctrlCtx, cluster.Config, opts, ready) }()
	// The banner says the controllers are up: wait until they are.
	select {
	case <-ready:
	case err := <-ctrlErr:
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		return fmt.Errorf("controllers: %w", err)
	case <-cluster.Done():
		return fmt.Errorf("local control plane failed: %w", cluster.Err())
	case <-ctx.Done():
		return nil
	}

	data := "temporary, removed on exit"
	if uo.dataDir != "" {
		data = "kept in " + lo.DataDir
	}
	fmt.Fprintf(os.Stderr, `
trellis is up in %s (control plane %s, then controllers %s): etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (%d fake node(s)), trellis controllers

  kubeconfig:  %s
  apiserver:   %s
  logs:        %s
  etcd data:   %s
%s
  kubectl --kubeconfig %s get nodes
  trellis kubectl get nodes          (uses that kubeconfig)
  export KUBECONFIG=%s

Press Ctrl-C to stop.
`, time.Since(start).Round(100*time.Millisecond), clusterUp.Round(100*time.Millisecond), (time.Since(start) - clusterUp).Round(100*time.Millisecond), lo.Nodes, kubeconfig, cluster.Host,
		filepath.Join(cluster.Dir, "logs"), data, awsLine, shellQuote(kubeconfig), shellQuote(kubeconfig))

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

// recordKubeconfig writes the pointer file that tells `trellis kubectl`
// where this run's kubeconfig is; the returned function removes it again,
// unless another run has replaced it meanwhile.
func recordKubeconfig(path string) func() {
	ptr := upPointerPath()
	if err := os.MkdirAll(filepath.Dir(ptr), 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "trellis: warning: %v (trellis kubectl will not find this cluster)\n", err)
		return func() {}
	}
	if err := os.WriteFile(ptr, []byte(path+"\n"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "trellis: warning: %v (trellis kubectl will not find this cluster)\n", err)
		return func() {}
	}
	return func() {
		if cur, err := os.ReadFile(ptr); err == nil && strings.TrimSpace(string(cur)) == path {
			os.Remove(ptr)
		}
	}
}

func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " '\"$`\\!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
