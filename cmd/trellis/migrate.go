package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	cliflag "k8s.io/component-base/cli/flag"

	"github.com/trellis-dev/trellis/pkg/cli"
	"github.com/trellis-dev/trellis/pkg/graph"
)

func newMigrateCommand() *cobra.Command {
	var (
		from, kubeconfig, kubeContext string
		gates                         map[string]bool
	)
	cmd := &cobra.Command{
		Use:   "migrate --from kro",
		Short: "Check, read-only, whether a cluster kro manages can be switched to trellis, and what the switch will do",
		Long: `Inspect a cluster that kro manages without changing anything, and print what
switching it to trellis will do:

  - whether kro still runs (its Deployment has replicas, or its leader Lease
    is held): the switch is refused until kro is stopped;
  - every ResourceGraphDefinition, built as trellis builds it: one trellis
    would not serve (a feature gate it is not started with, an expression it
    rejects) is a blocker; differences in behaviour are listed;
  - how many instances and children there are, and how many children have
    fields kro's field manager owns (they move to trellis's);
  - GraphRevisions (read as they are) and the ACK resources trellis's
    controllers will take over.

The exit code is 0 only when the switch is safe now.`,
		Example: `  trellis migrate --from kro
  trellis migrate --from kro --context prod --feature-gates CELOmitFunction=true`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from != "kro" {
				return fmt.Errorf("--from %q: only kro is supported", from)
			}
			c, err := cli.Connect(kubeconfig, kubeContext)
			if err != nil {
				return err
			}
			r, err := cli.Migrate(context.Background(), c, cli.MigrateOptions{GraphOptions: graph.Options{Omit: gates["CELOmitFunction"]}})
			if err != nil {
				return err
			}
			r.Print(cmd.OutOrStdout())
			if !r.Safe() {
				os.Exit(2)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "kro", "the controller the cluster runs now (kro)")
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config)")
	cmd.Flags().StringVar(&kubeContext, "context", "", "kubeconfig context to use")
	cmd.Flags().Var(cliflag.NewMapStringBool(&gates), "feature-gates", "the feature gates trellis will run with, e.g. CELOmitFunction=true")
	return cmd
}
