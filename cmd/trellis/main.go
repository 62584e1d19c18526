// Command trellis is a kro-compatible resource-graph orchestrator for
// Kubernetes. Subcommands: controller (run the controllers against a cluster),
// up (start a local control plane with the controllers in-process), kubectl
// (kubectl against the cluster `trellis up` started), version.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "trellis: %v\n", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "trellis",
		Short:         "trellis: kro-compatible resource graphs for Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newControllerCommand(), newUpCommand(), newKubectlCommand(), newVersionCommand())
	root.AddCommand(newValidateCommand(), newRenderCommand(), newCRDCommand(), newGraphCommand(), newDiffCommand())
	root.AddCommand(newBenchCommand())
	return root
}
