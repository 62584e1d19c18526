package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/trellis-dev/trellis/pkg/cli"
	"github.com/trellis-dev/trellis/pkg/operator"
)

func newDiffCommand() *cobra.Command {
	f := &authorFlags{}
	opts := cli.DiffOptions{}
	cmd := &cobra.Command{
		Use:   "diff -f rgd.yaml",
		Short: "Show what applying an RGD would change on a cluster, before applying it",
		Long: `Compare ResourceGraphDefinitions with a cluster without changing anything:

  - the generated CRD: new, unchanged, or updated, with breaking changes
    (removed fields, type changes, new required fields, tighter bounds...)
    named and the schema diff shown;
  - for every live instance of the kind, the children that would be created
    (+), changed (~, with a diff from a server-side dry-run apply, so server
    defaults and other field managers are accounted for) or pruned (-).
    Children whose desired state depends on objects that do not exist yet
    are listed as unknown (?).

The exit code is 1 when something would change, so it can gate CI.`,
		Example: `  # before kubectl apply -f webapp-rgd.yaml
  trellis diff -f webapp-rgd.yaml

  # only the instances of one namespace, against another context
  kubectl trellis diff -f webapp-rgd.yaml -n team-a --context staging`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, c, err := f.inputs(cmd, true)
			if err != nil {
				return err
			}
			changed, err := cli.RunDiff(context.Background(), c, in, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if changed {
				os.Exit(1)
			}
			return nil
		},
	}
	f.bind(cmd, false)
	cmd.Flags().StringVarP(&opts.Namespace, "namespace", "n", "", "compare only the instances of this namespace (default: all)")
	cmd.Flags().Var(operator.ChildLabelsFlag{V: &opts.ChildLabels}, "child-labels", operator.ChildLabelsUsage)
	return cmd
}
