package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/trellis-dev/trellis/pkg/cli"
)

func newGraphCommand() *cobra.Command {
	f := &authorFlags{}
	var format, namespace, color string
	cmd := &cobra.Command{
		Use:   "graph (-f rgd.yaml | <kind>/<name> [-n namespace])",
		Short: "Show the dependency graph of an RGD, or of a live instance with each child's state",
		Long: `With -f, print the dependency graph of ResourceGraphDefinitions (offline, like
validate): each resource under the one it waits for, with includeWhen and
readyWhen conditions.

With <kind>/<name>, read that instance from the cluster and show each child's
state: ready, waiting (and on what), skipped by includeWhen, missing, or
error. Nothing is written to the cluster.

Output formats: text (a tree, coloured on a terminal), mermaid, dot.`,
		Example: `  # the graph of an RGD, as a Mermaid flowchart for a README
  trellis graph -f webapp-rgd.yaml -o mermaid

  # a live instance as a tree
  trellis graph webapp/test-app -n default

  # as a picture
  kubectl trellis graph webapp/test-app -o dot | dot -Tsvg > test-app.svg`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			useColor := color == "always" || (color == "auto" && os.Getenv("NO_COLOR") == "" &&
				term.IsTerminal(int(os.Stdout.Fd())))
			if len(args) == 1 {
				if kind, name, ok := strings.Cut(args[0], "/"); !ok || kind == "" || name == "" {
					return fmt.Errorf("want <kind>/<name> (e.g. webapp/test-app), got %q", args[0])
				}
				c, err := cli.Connect(clusterKubeconfig(f.kubeconfig, f.context), f.context)
				if err != nil {
					return err
				}
				return cli.RunLiveGraph(context.Background(), c, args[0], namespace, format, useColor, cmd.OutOrStdout())
			}
			if len(f.files) == 0 {
				return cmd.Usage()
			}
			in, _, err := f.inputs(cmd, false)
			if err != nil {
				return err
			}
			ok, err := cli.RunGraph(in, format, useColor, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if !ok {
				os.Exit(1)
			}
			return nil
		},
	}
	f.bind(cmd, false)
	cmd.Flags().Lookup("filename").Annotations = nil
	cmd.Flags().StringVarP(&format, "output", "o", "text", "output format: text, mermaid or dot")
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace of the instance (default: the kubeconfig context's)")
	cmd.Flags().StringVar(&color, "color", "auto", "colour the text output: auto, always or never")
	return cmd
}
