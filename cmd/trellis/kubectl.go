package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/trellis-dev/trellis/pkg/localcluster"
)

func newKubectlCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "kubectl [kubectl arguments]",
		Short: "Run kubectl (built with the local control plane) against the `trellis up` cluster",
		Long: `Run kubectl from trellis's local control-plane binary. Unless KUBECONFIG is
set or --kubeconfig is given, it talks to the cluster of the running
` + "`trellis up`" + ` (` + defaultKubeconfigPath() + `).`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := localcluster.EnsureBinary(context.Background(), os.Stderr)
			if err != nil {
				return err
			}
			env := os.Environ()
			if os.Getenv("KUBECONFIG") == "" && !hasKubeconfigFlag(args) {
				path := defaultKubeconfigPath()
				if _, err := os.Stat(path); err != nil {
					return fmt.Errorf("no cluster: %s does not exist (start one with `trellis up`, or set KUBECONFIG)", path)
				}
				env = append(env, "KUBECONFIG="+path)
			}
			return syscall.Exec(bin.Path, append([]string{"kubectl", "kubectl"}, args...), env)
		},
	}
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--kubeconfig" || strings.HasPrefix(a, "--kubeconfig=") {
			return true
		}
	}
	return false
}
