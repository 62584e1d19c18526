package main

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/controller/rgd"
	"github.com/trellis-dev/trellis/pkg/identity"
)

// The `trellis validate` examples of the README's "For RGD authors" section
// are run from the repository root: each prints what the README shows and
// exits with the code it shows (0 unless an `echo $?` follows).
func TestREADMEValidateExamples(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	start := strings.Index(text, "## For RGD authors")
	if start < 0 {
		t.Fatal("README has no \"For RGD authors\" section")
	}
	block := text[start:]
	block = block[strings.Index(block, "```console\n")+len("```console\n"):]
	block = block[:strings.Index(block, "```")]
	lines := strings.Split(block, "\n")
	t.Chdir("../..")
	ran := 0
	for i := 0; i < len(lines); i++ {
		cmdline, ok := strings.CutPrefix(lines[i], "$ trellis validate ")
		if !ok {
			continue
		}
		var want []string
		j := i + 1
		for ; j < len(lines) && lines[j] != "" && !strings.HasPrefix(lines[j], "$") && !strings.HasPrefix(lines[j], "#"); j++ {
			want = append(want, lines[j])
		}
		code := 0
		if j < len(lines) && lines[j] == "$ echo $?" && j+1 < len(lines) {
			code, _ = strconv.Atoi(lines[j+1])
		}
		args := append([]string{"validate"}, strings.Fields(cmdline)...)
		root := newRootCommand()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		got := run(root, &out)
		ran++
		if got != code {
			t.Errorf("trellis %s: exit %d, the README says %d\n%s", strings.Join(args, " "), got, code, out.String())
		}
		for _, w := range want {
			// A line ending in "valid" stands for the full summary.
			if !strings.Contains(out.String(), w) {
				t.Errorf("trellis %s: output lacks the README's %q:\n%s", strings.Join(args, " "), w, out.String())
			}
		}
	}
	if ran < 3 {
		t.Errorf("found %d validate examples in the README, want at least 3", ran)
	}
}

// Every annotation trellis names in a status message is documented in the
// README.
func TestREADMEDocumentsAnnotations(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{v1alpha1.AllowBreakingChangesAnnotation, rgd.OrphanInstancesAnnotation, "kro.run/reconcile", identity.Annotation, identity.AllowCrossNamespaceAnnotation} {
		if !strings.Contains(string(raw), "`"+a) {
			t.Errorf("the README does not document the annotation %s", a)
		}
	}
}
