package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/trellis-dev/trellis/pkg/cli"
	"github.com/trellis-dev/trellis/pkg/operator"
)

func newRenderCommand() *cobra.Command {
	f := &authorFlags{}
	in := cli.RenderInputs{}
	cmd := &cobra.Command{
		Use:   "render -f rgd.yaml -i instance.yaml [--observed children.yaml]",
		Short: "Print the children an instance would produce, without a cluster",
		Long: `Evaluate an instance against an RGD the way the controller does and print the
children it would apply, in apply order, as YAML. The instance is first
defaulted and checked with the generated CRD's schema, as the apiserver would.

Expressions that read other resources take their values from the rendered
objects, overlaid with the server state given with --observed (objects as
` + "`kubectl get -o yaml`" + ` prints them, matched by kind and name). Fields that still
cannot be computed keep their ${...} text, with a comment saying why. The
header lists every resource with its state: rendered, skipped by includeWhen,
waiting, or not ready yet by readyWhen.`,
		Example: `  # what the seed WebApp instance creates
  trellis render -f webapp-rgd.yaml -i webapp-instance.yaml

  # with the Deployment's live status, so readyWhen and status expressions resolve
  kubectl get deployment test-app -o yaml > observed.yaml
  trellis render -f webapp-rgd.yaml -i webapp-instance.yaml --observed observed.yaml

  # an RGD using ACK kinds
  trellis render -f application-rgd.yaml -i my-app.yaml --crds config/crd/ack/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, func(base cli.Inputs, out, errOut io.Writer) (bool, error) {
				in.Inputs = base
				return cli.RunRender(in, out, errOut)
			})
		},
	}
	f.bind(cmd, true)
	cmd.Flags().StringArrayVarP(&in.Instances, "instance", "i", nil, "instance file (repeatable; - reads stdin)")
	cmd.Flags().StringArrayVar(&in.Observed, "observed", nil, "files with the server state of children or external references (repeatable)")
	cmd.Flags().StringVarP(&in.Namespace, "namespace", "n", "default", "namespace of instances that set none")
	cmd.Flags().Var(operator.ChildLabelsFlag{V: &in.ChildLabels}, "child-labels", operator.ChildLabelsUsage)
	_ = cmd.MarkFlagRequired("instance")
	return cmd
}
