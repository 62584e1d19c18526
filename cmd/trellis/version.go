package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/trellis-dev/trellis/pkg/version"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print trellis's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			client := "unknown"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, d := range bi.Deps {
					if d.Path == "k8s.io/client-go" {
						client = d.Version
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "trellis %s (%s, %s/%s, client-go %s)\n",
				version.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, client)
		},
	}
}
