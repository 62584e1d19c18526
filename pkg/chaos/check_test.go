package chaos

import (
	"strings"
	"testing"
)

func children(inst string, label string) []object {
	var out []object
	for node, c := range expectedChildren(inst) {
		c.Labels = map[string]string{labelInstanceName: inst, labelNodeID: node}
		if node == "config" && label != "" {
			k, v, _ := strings.Cut(label, "=")
			c.Labels[k] = v
		}
		out = append(out, c)
	}
	return out
}

func TestCheckWorkload(t *testing.T) {
	active := func(n string) object { return object{Resource: "benchapps", Name: n, State: "ACTIVE"} }
	all := append(children("a", "rev=2"), children("b", "rev=2")...)
	if f := checkWorkload([]string{"a", "b"}, "rev=2", []object{active("a"), active("b")}, all); f.Lost+f.Duplicates+f.Orphans+f.Finalizers != 0 {
		t.Fatalf("a complete workload: %+v", f)
	}
	// kro#1170: a crash mid-apply left a child never created.
	f := checkWorkload([]string{"a", "b"}, "", []object{active("a"), active("b")}, append(children("a", ""), children("b", "")[1:]...))
	if f.Lost != 1 {
		t.Errorf("a missing child: lost %d, want 1 (%v)", f.Lost, f.Examples)
	}
	// A second ConfigMap for the same node is a duplicate.
	dup := object{Resource: "configmaps", Name: "a-config-2", Labels: map[string]string{labelInstanceName: "a", labelNodeID: "config"}}
	if f := checkWorkload([]string{"a"}, "", []object{active("a")}, append(children("a", ""), dup)); f.Duplicates != 1 || f.Lost != 0 {
		t.Errorf("a duplicate child: %+v", f)
	}
	// kro#1171: a crash mid-deletion orphans children.
	f = checkWorkload(nil, "", nil, children("a", ""))
	if f.Orphans != 5 {
		t.Errorf("children of a deleted instance: orphans %d, want 5", f.Orphans)
	}
	stuck := object{Resource: "benchapps", Name: "a", Deleting: true, Finalizers: []string{"kro.run/finalizer"}}
	if f := checkWorkload(nil, "", []object{stuck}, nil); f.Finalizers != 1 || f.Lost != 0 {
		t.Errorf("an instance stuck deleting: %+v", f)
	}
	if f := checkWorkload(nil, "", []object{active("a")}, nil); f.Lost != 1 {
		t.Errorf("an instance not deleted: %+v", f)
	}
	if f := checkWorkload([]string{"a"}, "", []object{{Resource: "benchapps", Name: "a", State: "IN_PROGRESS"}}, children("a", "")); f.Lost != 1 {
		t.Errorf("an instance not ACTIVE: %+v", f)
	}
	if f := checkWorkload([]string{"a"}, "rev=2", []object{active("a")}, children("a", "")); f.Lost != 1 {
		t.Errorf("a change that did not reach the config: %+v", f)
	}
}

func TestReportFailsOnAnyFinding(t *testing.T) {
	rep := &Report{Rows: []Row{
		{Scenario: "baseline", Phase: "rollout"},
		{Scenario: "kill-controller", Phase: "deletion", Seed: 2, Orphans: 5},
		{Scenario: "ack-kill-controller", Phase: "aws-delete", Seed: 1, Leaked: 1},
		{Scenario: "restart-etcd", Phase: "rollout", Err: "not converged"},
	}}
	if n := rep.Failed(); n != 3 {
		t.Errorf("Failed() = %d, want 3", n)
	}
	md := rep.Markdown()
	for _, want := range []string{"| kill-controller (seed 2) | deletion |", "**FAILED: not converged**", "3 of 4 phases failed"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
