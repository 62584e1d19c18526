package main

import (
	"bytes"
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
