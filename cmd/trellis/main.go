// Command trellis is a kro-compatible resource-graph orchestrator for
// Kubernetes. Subcommands: controller (run the controllers against a cluster),
// up (start a local control plane with the controllers in-process), kubectl
// (kubectl against the cluster `trellis up` started), version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(newRootCommand(), os.Stderr))
}

// interruptContext ends on the first Ctrl-C (or SIGTERM), which starts an
// orderly stop; a second Ctrl-C then ends trellis at once (the processes it
// started die with it: Pdeathsig).
func interruptContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-signals:
		case <-ctx.Done():
		}
		// Before the context ends: whoever sees it done can rely on the
		// next Ctrl-C having its default effect.
		signal.Stop(signals)
		cancel()
	}()
	return ctx, cancel
}

// run executes the command line and returns trellis's exit code.
func run(root *cobra.Command, stderr io.Writer) int {
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	code := 1
	if c, ok := cmd.Annotations[errorExitCode]; ok {
		code, _ = strconv.Atoi(c) // e.g. a missing -f for diff
	}
	var ee *exitError
	if errors.As(err, &ee) {
		code, err = ee.code, ee.err
	}
	if err != nil {
		fmt.Fprintf(stderr, "trellis: %v\n", err)
	}
	return code
}

// errorExitCode is the annotation of a command whose errors (flag errors
// included) exit with another code than 1.
const errorExitCode = "trellis.dev/error-exit-code"

// exitError ends trellis with a given exit code; err, when set, is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           commandName(os.Args[0]),
		Short:         "trellis: kro-compatible resource graphs for Kubernetes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newControllerCommand(), newUpCommand(), newKubectlCommand(), newVersionCommand())
	root.AddCommand(newValidateCommand(), newRenderCommand(), newCRDCommand(), newGraphCommand(), newDiffCommand())
	root.AddCommand(newBenchCommand(), newChaosCommand(), newDemoCommand(), newMigrateCommand())
	return root
}

// commandName is how help and usage name the command: "kubectl trellis"
// when kubectl runs this binary as its plugin (named kubectl-trellis).
func commandName(argv0 string) string {
	if strings.TrimSuffix(filepath.Base(argv0), ".exe") == "kubectl-trellis" {
		return "kubectl trellis"
	}
	return "trellis"
}
