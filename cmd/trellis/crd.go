package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/trellis-dev/trellis/pkg/cli"
)

func newCRDCommand() *cobra.Command {
	f := &authorFlags{}
	cmd := &cobra.Command{
		Use:   "crd -f rgd.yaml",
		Short: "Print the CustomResourceDefinition an RGD generates",
		Long: `Print the CustomResourceDefinition the controller would create for each
ResourceGraphDefinition, without a cluster. The RGD must validate (see
` + "`trellis validate`" + `); --crds supplies the schemas of non-built-in kinds.`,
		Example: `  trellis crd -f webapp-rgd.yaml

  # pipe into kubectl to inspect it on a cluster
  trellis crd -f webapp-rgd.yaml | kubectl apply --dry-run=server -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			online := f.kubeconfig != "" || f.context != ""
			in, _, err := f.inputs(cmd, online)
			if err != nil {
				return err
			}
			ok, err := cli.RunCRD(in, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if !ok {
				os.Exit(1)
			}
			return nil
		},
	}
	f.bind(cmd, true)
	return cmd
}
