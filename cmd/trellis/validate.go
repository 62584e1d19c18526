package main

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/trellis-dev/trellis/pkg/cli"
)

// authorFlags are the flags shared by the RGD-author commands.
type authorFlags struct {
	files      []string
	crds       []string
	kubeconfig string
	context    string
}

func (f *authorFlags) bind(cmd *cobra.Command, live bool) {
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "RGD file or directory (repeatable; - reads stdin)")
	cmd.Flags().StringArrayVar(&f.crds, "crds", nil, "CRD files or directories defining the non-built-in kinds the RGDs use (repeatable)")
	if live {
		cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "resolve kinds against this cluster instead of offline (\"\" with --context uses $KUBECONFIG)")
	} else {
		cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "path to the kubeconfig of the cluster (default: $KUBECONFIG, ~/.kube/config)")
	}
	cmd.Flags().StringVar(&f.context, "context", "", "kubeconfig context to use")
	_ = cmd.MarkFlagRequired("filename")
}

// inputs returns the inputs; with online it connects to the cluster.
// run loads the inputs (from a cluster when --kubeconfig or --context is
// given), runs do, and exits 1 when do reports problems.
func (f *authorFlags) run(cmd *cobra.Command, do func(cli.Inputs, io.Writer, io.Writer) (bool, error)) error {
	in, _, err := f.inputs(cmd, f.kubeconfig != "" || f.context != "")
	if err != nil {
		return err
	}
	ok, err := do(in, cmd.OutOrStdout(), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if !ok {
		os.Exit(1)
	}
	return nil
}

func (f *authorFlags) inputs(cmd *cobra.Command, online bool) (cli.Inputs, *cli.Cluster, error) {
	in := cli.Inputs{Files: f.files, CRDPaths: f.crds, Stdin: cmd.InOrStdin()}
	if !online {
		return in, nil, nil
	}
	c, err := cli.Connect(f.kubeconfig, f.context)
	if err != nil {
		return in, nil, err
	}
	in.Cluster = c.Resolver
	return in, c, nil
}

func newValidateCommand() *cobra.Command {
	f := &authorFlags{}
	cmd := &cobra.Command{
		Use:   "validate -f rgd.yaml [-f more.yaml] [--crds dir/]",
		Short: "Check ResourceGraphDefinitions without applying them",
		Long: `Build ResourceGraphDefinitions as the controller would: SimpleSchema, CEL
type checking against the schemas of the kinds they use, and the dependency
graph. No cluster is needed: the built-in Kubernetes kinds are compiled in,
other kinds come from CRD files given with --crds. RGDs checked together can
use each other's kinds. With --kubeconfig or --context, kinds are resolved
against that cluster instead.

Problems are printed like a compiler's (file:line:column: path: message) and
the exit code is 1.`,
		Example: `  # check one RGD
  trellis validate -f webapp-rgd.yaml

  # RGDs that use ACK kinds, with the ACK CRDs
  trellis validate -f rds-rgd.yaml -f db-webstack-rgd.yaml --crds config/crd/ack/

  # from stdin, as a kubectl plugin
  cat rgd.yaml | kubectl trellis validate -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd, cli.Validate)
		},
	}
	f.bind(cmd, true)
	return cmd
}
