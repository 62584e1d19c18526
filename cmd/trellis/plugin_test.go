package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestCommandName(t *testing.T) {
	for argv0, want := range map[string]string{
		"trellis": "trellis", "/usr/local/bin/trellis": "trellis",
		"/home/me/.local/bin/kubectl-trellis": "kubectl trellis", "kubectl-trellis.exe": "kubectl trellis",
	} {
		if got := commandName(argv0); got != want {
			t.Errorf("commandName(%q) = %q, want %q", argv0, got, want)
		}
	}
}

// TestKubectlPluginUsage: run under the plugin's name, usage says how
// kubectl users type it.
func TestKubectlPluginUsage(t *testing.T) {
	argv0 := os.Args[0]
	os.Args[0] = "/usr/local/bin/kubectl-trellis"
	defer func() { os.Args[0] = argv0 }()
	var out bytes.Buffer
	root := newRootCommand()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"validate", "--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "kubectl trellis validate -f") {
		t.Errorf("usage does not name `kubectl trellis`:\n%s", out.String())
	}
}
