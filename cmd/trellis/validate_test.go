package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// Every RGD-author command documents itself with an example.
func TestAuthorCommandsHaveExamples(t *testing.T) {
	root := newRootCommand()
	for _, name := range []string{"validate", "render", "crd", "graph", "diff"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Errorf("%s: not registered (%v)", name, err)
			continue
		}
		var out bytes.Buffer
		cmd.SetOut(&out)
		if err := cmd.Help(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "Examples:") || !strings.Contains(out.String(), "trellis "+name) {
			t.Errorf("%s --help has no example:\n%s", name, out.String())
		}
	}
}

// validate runs end to end through cobra and succeeds on a good RGD.
func TestValidateCommand(t *testing.T) {
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"validate", "-f", "../../pkg/cli/testdata/seeds/000-webapp-rgd.yaml"})
	if err := root.Execute(); err != nil {
		t.Fatal(err, errOut.String())
	}
	if !strings.Contains(out.String(), "webapp.kro.run: valid") {
		t.Errorf("got %q", out.String())
	}
}

// Exit codes: validate 0 valid / 1 problems; diff 2 for invalid input or
// any error (here: a missing -f, an unreadable kubeconfig), so a CI gate can
// tell a broken RGD from a change (1).
func TestExitCodes(t *testing.T) {
	bad := t.TempDir() + "/bad.yaml"
	if err := os.WriteFile(bad, []byte("apiVersion: kro.run/v1alpha1\nkind: ResourceGraphDefinition\nmetadata:\n  name: x\nspec:\n  schema:\n    apiVersion: v1alpha1\n    kind: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"validate", "-f", "../../pkg/cli/testdata/seeds/000-webapp-rgd.yaml"}, 0},
		{[]string{"validate", "-f", bad}, 1},
		{[]string{"diff"}, 2},
		{[]string{"diff", "-f", bad, "--kubeconfig", "/nonexistent/kubeconfig"}, 2},
	} {
		root := newRootCommand()
		var out, errOut bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errOut)
		root.SetArgs(tc.args)
		if got := run(root, &errOut); got != tc.want {
			t.Errorf("trellis %v: exit %d, want %d\n%s%s", tc.args, got, tc.want, out.String(), errOut.String())
		}
	}
}
