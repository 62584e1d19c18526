package main

import (
	"context"

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

Exit codes: 0 nothing would change, 1 something would change, 2 the input is
invalid (an RGD that does not build or that the API server would reject) or
another error occurred, so a CI gate can tell a broken RGD from a change.`,
		Example: `  # before kubectl apply -f webapp-rgd.yaml
  trellis diff -f webapp-rgd.yaml

  # only the instances of one namespace, against another context
  kubectl trellis diff -f webapp-rgd.yaml -n team-a --context staging`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{errorExitCode: "2"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			in, c, err := f.inputs(cmd, true)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			changed, err := cli.RunDiff(context.Background(), c, in, opts, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if changed {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f.bind(cmd, false)
	cmd.Flags().StringVarP(&opts.Namespace, "namespace", "n", "", "compare only the instances of this namespace (default: all)")
	cmd.Flags().Var(operator.ChildLabelsFlag{V: &opts.ChildLabels}, "child-labels", operator.ChildLabelsUsage)
	return cmd
}
