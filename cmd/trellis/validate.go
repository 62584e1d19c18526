package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/trellis-dev/trellis/pkg/cli"
	"github.com/trellis-dev/trellis/pkg/identity"
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
		return &exitError{code: 1}
	}
	return nil
}

func (f *authorFlags) inputs(cmd *cobra.Command, online bool) (cli.Inputs, *cli.Cluster, error) {
	in := cli.Inputs{Files: f.files, CRDPaths: f.crds, Stdin: cmd.InOrStdin()}
	if !online {
		return in, nil, nil
	}
	c, err := cli.Connect(clusterKubeconfig(f.kubeconfig, f.context), f.context)
	if err != nil {
		return in, nil, err
	}
	in.Cluster = c.Resolver
	return in, c, nil
}

func newValidateCommand() *cobra.Command {
	f := &authorFlags{}
	var as string
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
the exit code is 1.

With --as <namespace>/<name>, each RGD is also checked the way the controller
checks an RGD's identity (annotation trellis.dev/service-account): the
ServiceAccount must be allowed every verb the instances use on every kind
(SubjectAccessReviews against the cluster). {instance-namespace}/<name> is
checked in the kubeconfig context's namespace.`,
		Example: `  # check one RGD
  trellis validate -f webapp-rgd.yaml

  # RGDs that use ACK kinds, with their CRDs (config/crd/ack/ has Bucket and
  # Table; other AWS kinds need their CRDs from another folder)
  trellis validate -f carts-rgd.yaml --crds config/crd/ack/
  trellis validate -f rds-rgd.yaml --crds config/crd/ack/ --crds more-crds/

  # may the ServiceAccount team-a/deployer do what the RGD's instances do?
  trellis validate -f webapp-rgd.yaml --as team-a/deployer

  # from stdin, as a kubectl plugin
  cat rgd.yaml | kubectl trellis validate -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if as == "" {
				return f.run(cmd, cli.Validate)
			}
			id, err := identity.Parse(as)
			if err != nil {
				return fmt.Errorf("--as: %w", err)
			}
			in, c, err := f.inputs(cmd, true)
			if err != nil {
				return err
			}
			kube, err := kubernetes.NewForConfig(c.Config)
			if err != nil {
				return err
			}
			in.Identity = &cli.IdentityCheck{As: id, Namespace: c.Namespace, Access: identity.NewReviewer(kube)}
			ok, err := cli.Validate(in, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if !ok {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	f.bind(cmd, true)
	cmd.Flags().StringVar(&as, "as", "", "check that this ServiceAccount (<namespace>/<name> or {instance-namespace}/<name>) may do what each RGD's instances do, against the cluster")
	return cmd
}
