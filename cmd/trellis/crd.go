package main

import (
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
			return f.run(cmd, cli.RunCRD)
		},
	}
	f.bind(cmd, true)
	return cmd
}
