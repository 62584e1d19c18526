package bench

import (
	"strings"
	"testing"
)

func TestReplicasMarkdown(t *testing.T) {
	if got := replicasMarkdown(&Report{Runs: []Row{{N: 10}}}); got != "" {
		t.Errorf("single controller: %q, want nothing", got)
	}
	rep := &Report{Runs: []Row{{N: 500, Trellis: Trellis{Replicas: []ControllerUse{{PeakRSSMiB: 41, CPUSecondsTotal: 3.25}, {PeakRSSMiB: 39.6, CPUSecondsTotal: 2.5}}}}}}
	got := replicasMarkdown(rep)
	if !strings.Contains(got, "| 500 | 2 | 41 / 3.2 · 40 / 2.5 |") {
		t.Errorf("replica table:\n%s", got)
	}
}

func TestWithReplicaUse(t *testing.T) {
	var tr Trellis
	withReplicaUse(&tr, &replicaSet{use: []ControllerUse{{PeakRSSMiB: 40, CPUSecondsTotal: 1.5}, {PeakRSSMiB: 55, CPUSecondsTotal: 2}}})
	if len(tr.Replicas) != 2 || tr.Controller.PeakRSSMiB != 55 || tr.Controller.CPUSecondsTotal != 3.5 {
		t.Errorf("got %+v", tr)
	}
	withReplicaUse(&tr, nil)
}
