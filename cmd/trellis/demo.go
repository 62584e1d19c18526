package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/trellis-dev/trellis/pkg/demo"
)

// awsEndpointPath is where `trellis up --aws-local` writes the local AWS
// endpoint, next to its kubeconfig.
func awsEndpointPath(kubeconfig string) string {
	return filepath.Join(filepath.Dir(kubeconfig), "aws-endpoint")
}

func newDemoCommand() *cobra.Command {
	o := demo.Options{}
	var kubeconfig string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Apply the seed examples to a `trellis up --aws-local` cluster and wait until every instance is ACTIVE",
		Long: `Apply every example RGD, ACK object and instance (examples/) to the cluster,
wait until each instance is ACTIVE (each ACK object synced), and print the time
each took with the ARNs, ids and endpoints in its status. With --delete,
everything the demo applied is deleted again, newest first, each waited for.

It expects the cluster of ` + "`trellis up --aws-local`" + ` (make demo starts one):
the S3BucketAdopt example adopts a bucket the demo first creates in the local
AWS, whose endpoint up wrote next to its kubeconfig.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := interruptContext()
			defer stop()
			if o.AWSEndpoint == "" {
				if b, err := os.ReadFile(awsEndpointPath(kubeconfig)); err == nil {
					o.AWSEndpoint = strings.TrimSpace(string(b))
				}
			}
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("kubeconfig %s: %w (start a cluster with `trellis up --aws-local`)", kubeconfig, err)
			}
			cfg.QPS, cfg.Burst = 50, 100
			return demo.Run(ctx, cfg, o)
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", defaultKubeconfigPath(), "kubeconfig of the cluster (default: the `trellis up` cluster's)")
	cmd.Flags().StringVar(&o.Examples, "examples", "examples", "the examples folder")
	cmd.Flags().StringVar(&o.AWSEndpoint, "aws-endpoint-url", "", "the local AWS endpoint (default: what `trellis up --aws-local` wrote next to its kubeconfig)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 3*time.Minute, "how long to wait for each object")
	cmd.Flags().BoolVar(&o.Delete, "delete", false, "then delete everything again, newest first, and wait until it is gone")
	return cmd
}
