package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
)

func newControllerCommand() *cobra.Command {
	var kubeconfig string
	opts := &controllerOptions{}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run trellis's controllers against a cluster",
		Long: `Run trellis's controllers (ResourceGraphDefinitions, their instances, and the
ACK-compatible controllers) against the cluster named by --kubeconfig, the
KUBECONFIG environment variable, the in-cluster config, or ~/.kube/config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(clusterKubeconfig(kubeconfig, ""))
			if err != nil {
				return err
			}
			return runControllers(ctrl.SetupSignalHandler(), cfg, opts)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "path to a kubeconfig (default: $KUBECONFIG, in-cluster config, a running `trellis up`'s, ~/.kube/config)")
	opts.bindFlags(cmd.Flags(), ":8078", ":8079")
	return cmd
}

func loadConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		if _, err := os.Stat(kubeconfig); err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("no cluster to connect to: %w", err)
	}
	return cfg, nil
}
