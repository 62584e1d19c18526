package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
)

// ShardArgs are the controller flags of a replica in a Replicated run: its
// share of the instances, with its Lease in kube-system; leader election
// keeps the ACK controllers on one replica.
var ShardArgs = []string{"--sharding", "--leader-elect", "--leader-election-namespace=kube-system"}

// Replicated starts n controllers (each with the flags in ShardArgs, which
// start must pass) as one Controller for a trellis phase. Pid and
// MetricsURL are empty (the single-controller figures are skipped: the
// apiserver's counts of writes are the measure); each replica's peak RSS
// and CPU are reported by ReplicaUse.
func Replicated(start StartController, n int) StartController {
	return func(ctx context.Context, kubeconfig string, workers int, logPath string) (Controller, error) {
		set := &replicaSet{}
		for i := 0; i < n; i++ {
			ext := filepath.Ext(logPath)
			c, err := start(ctx, kubeconfig, workers, fmt.Sprintf("%s-replica%d%s", strings.TrimSuffix(logPath, ext), i, ext))
			if err != nil {
				set.Stop()
				return nil, fmt.Errorf("replica %d: %w", i, err)
			}
			set.cs = append(set.cs, c)
		}
		return set, nil
	}
}

type replicaSet struct {
	cs []Controller
	mu sync.Mutex
	// use is read as the replicas stop (peak RSS and CPU totals).
	use []ControllerUse
}

func (s *replicaSet) Pid() int                       { return 0 }
func (s *replicaSet) MetricsURL() string             { return "" }
func (s *replicaSet) StartProfile(path string) error { return nil }
func (s *replicaSet) StopProfile() error             { return nil }
func (s *replicaSet) HeapProfile(path string) error  { return nil }

func (s *replicaSet) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.use == nil {
		s.use = s.read()
	}
	for _, c := range s.cs {
		_ = c.Stop()
	}
	return nil
}

func (s *replicaSet) read() []ControllerUse {
	out := make([]ControllerUse, 0, len(s.cs))
	for _, c := range s.cs {
		var u ControllerUse
		if pid := c.Pid(); pid != 0 {
			if ps, err := ReadProc(pid); err == nil {
				u.PeakRSSMiB, u.CPUSecondsTotal = round(mib(ps.PeakRSS), 1), round(ps.CPUSeconds, 2)
			}
		}
		out = append(out, u)
	}
	return out
}

// withReplicaUse records each replica's use in t, and the largest peak RSS
// and the summed CPU as the controller's (what the targets compare).
func withReplicaUse(t *Trellis, c Controller) {
	t.Replicas = ReplicaUse(c)
	for _, u := range t.Replicas {
		t.Controller.PeakRSSMiB = max(t.Controller.PeakRSSMiB, u.PeakRSSMiB)
		t.Controller.CPUSecondsTotal = round(t.Controller.CPUSecondsTotal+u.CPUSecondsTotal, 2)
	}
}

// ReplicaUse is each replica's peak RSS and CPU seconds so far (nil for a
// single controller).
func ReplicaUse(c Controller) []ControllerUse {
	s, ok := c.(*replicaSet)
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.use != nil {
		return s.use
	}
	return s.read()
}

// replicasMarkdown is the per-replica table of a Replicated run ("" if none).
func replicasMarkdown(r *Report) string {
	var b strings.Builder
	for _, run := range r.Runs {
		if len(run.Trellis.Replicas) == 0 {
			continue
		}
		if b.Len() == 0 {
			fmt.Fprintf(&b, "\nReplicas (--sharding), per replica: peak RSS MiB / CPU s (the table above shows the largest peak RSS and the summed CPU)\n\n| N | replicas | per replica |\n|---:|---:|---|\n")
		}
		var parts []string
		for _, u := range run.Trellis.Replicas {
			parts = append(parts, fmt.Sprintf("%.0f / %.1f", u.PeakRSSMiB, u.CPUSecondsTotal))
		}
		fmt.Fprintf(&b, "| %d | %d | %s |\n", run.N, len(run.Trellis.Replicas), strings.Join(parts, " · "))
	}
	return b.String()
}
