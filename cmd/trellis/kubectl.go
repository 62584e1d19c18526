package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
` + "`trellis up`" + `: the kubeconfig it wrote (` + defaultKubeconfigPath() + `,
or the --kubeconfig-out of that run). kubectl's own help needs no cluster.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := kubectlEnv(args, os.Environ())
			if err != nil {
				return err
			}
			bin, err := localcluster.EnsureBinary(context.Background(), os.Stderr)
			if err != nil {
				return err
			}
			return syscall.Exec(bin.Path, append([]string{"kubectl", "kubectl"}, args...), env)
		},
	}
}

// kubectlEnv is the environment `trellis kubectl args` runs kubectl with:
// KUBECONFIG points at the kubeconfig of the running `trellis up` unless the
// caller chose one. Asking kubectl for help needs no cluster.
func kubectlEnv(args, environ []string) ([]string, error) {
	for _, e := range environ {
		if v, ok := strings.CutPrefix(e, "KUBECONFIG="); ok && v != "" {
			return environ, nil
		}
	}
	if hasKubeconfigFlag(args) {
		return environ, nil
	}
	path, err := upKubeconfig()
	if err != nil {
		if wantsHelp(args) {
			return environ, nil
		}
		return nil, err
	}
	return append(environ, "KUBECONFIG="+path), nil
}

// upKubeconfig finds the kubeconfig of the running `trellis up`: the one its
// pointer file names (written by every run, also with --kubeconfig-out),
// else the default path.
func upKubeconfig() (string, error) {
	if b, err := os.ReadFile(upPointerPath()); err == nil {
		p := strings.TrimSpace(string(b))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	path := defaultKubeconfigPath()
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no cluster: %s does not exist and no running `trellis up` recorded another kubeconfig (start one with `trellis up`, or set KUBECONFIG)", path)
	}
	return path, nil
}

// upPointerPath is the file in which `trellis up` records the path of the
// kubeconfig it wrote, so `trellis kubectl` finds it wherever it is.
func upPointerPath() string {
	return filepath.Join(filepath.Dir(defaultKubeconfigPath()), "current-kubeconfig")
}

func wantsHelp(args []string) bool {
	if len(args) == 0 {
		return true
	}
	if args[0] == "help" {
		return true
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" {
			return true
		}
	}
	return false
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--kubeconfig" || strings.HasPrefix(a, "--kubeconfig=") {
			return true
		}
	}
	return false
}
