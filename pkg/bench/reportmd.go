package bench

import (
	"fmt"
	"strings"
)

func opt(v *float64, format string) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf(format, *v)
}

// Markdown renders the report as markdown tables.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s · %d CPUs, %d MiB, load %s at start · Kubernetes %s · trellis %s · %d workers, floor concurrency %d\n\n",
		r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Machine.CPUs, r.Machine.MemoryMiB, r.Machine.Load1, r.Kubernetes, r.Trellis,
		r.Settings.Workers, r.Settings.Concurrency)
	if len(r.Settings.ControllerArgs)+len(r.Settings.ControllerEnv) > 0 {
		fmt.Fprintf(&b, "The controller ran with %s.\n\n", strings.Join(append(append([]string(nil), r.Settings.ControllerEnv...), r.Settings.ControllerArgs...), " "))
	}
	if r.Unfinished != "" {
		fmt.Fprintf(&b, "**Partial report** after %.0f s: %s.\n\n", r.WallSeconds, r.Unfinished)
	} else {
		fmt.Fprintf(&b, "Whole run: %.1f min.\n\n", r.WallSeconds/60)
	}
	if len(r.Runs) > 0 { // -n 0 runs only the other phases
		b.WriteString("| N | floor s | trellis s | trellis/floor | writes/inst floor | writes/inst trellis | idle writes/min | ctrl peak RSS MiB | ctrl CPU s (to ACTIVE / total) | delete s (floor / trellis) | RGD change s (floor / trellis) | change writes/inst |\n")
		b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	}
	for _, run := range r.Runs {
		t := run.Trellis
		idle, change, changeW, del := "–", "–", "–", "–"
		if t.Idle != nil {
			idle = fmt.Sprintf("%.0f", t.Idle.WritesPerMin)
		}
		if t.Change != nil {
			change = fmt.Sprintf("%.1f / %.1f", run.Floor.ChangeSeconds, t.Change.Seconds)
			changeW = fmt.Sprintf("%.2f", t.Change.WritesPerInstance)
		}
		if t.Delete != nil {
			floorDel := "–"
			if run.Floor.DeleteSeconds > 0 {
				floorDel = fmt.Sprintf("%.1f", run.Floor.DeleteSeconds)
			}
			del = fmt.Sprintf("%s / %.1f", floorDel, t.Delete.Seconds)
		}
		floorS, ratio, floorW := "–", "–", "–"
		if run.FloorSeconds > 0 {
			floorS, ratio, floorW = fmt.Sprintf("%.1f", run.FloorSeconds), fmt.Sprintf("**%.2f×**", run.Ratio), fmt.Sprintf("%.2f", run.Floor.WritesPerInstance)
		}
		fmt.Fprintf(&b, "| %d | %s | %.1f | %s | %s | **%.2f** | %s | %.0f | %.1f / %.1f | %s | %s | %s |\n",
			run.N, floorS, run.TrellisSeconds, ratio, floorW, t.WritesPerInstance, idle,
			t.Controller.PeakRSSMiB, t.Controller.CPUSecondsActive, t.Controller.CPUSecondsTotal, del, change, changeW)
	}
	for _, run := range r.Runs {
		if run.Scale && run.FloorSeconds == 0 {
			fmt.Fprintf(&b, "\nN=%d ran without the floor (--scale-floor=false): its floor figures are empty (– or 0) and it has no time ratio.\n", run.N)
		}
	}
	b.WriteString(deletionMemoryMarkdown(r.Runs))
	b.WriteString(replicasMarkdown(r))
	if r.Settings.Repeat > 1 {
		fmt.Fprintf(&b, "\nEach N was run %d times, floor and trellis back to back; the times are medians and trellis/floor is the median of the pairs' ratios:\n\n", r.Settings.Repeat)
		for _, run := range r.Runs {
			ratios := make([]string, len(run.Pairs))
			for i, p := range run.Pairs {
				ratios[i] = fmt.Sprintf("%.1f/%.1f s = %.2f×", p.TrellisSeconds, p.FloorSeconds, p.Ratio)
				if p.DeleteRatio > 0 {
					ratios[i] += fmt.Sprintf(" (deletion %.2f×)", p.DeleteRatio)
				}
			}
			fmt.Fprintf(&b, "- N=%d: %s; deletion median %.2f×\n", run.N, strings.Join(ratios, ", "), run.DeleteRatio)
		}
		b.WriteString("\nThe figures below are the first pair's.\n")
	}
	if len(r.Runs) > 0 {
		b.WriteString("\nCPU seconds to all-ACTIVE (apiserver / etcd / controller), the machine's busy cores meanwhile (other users included) and the watch traffic the apiserver sent (events and KiB per instance, all watchers):\n\n| N | floor CPU s | trellis CPU s | busy cores floor / trellis | watch events/inst floor / trellis | watch KiB/inst floor / trellis |\n|---:|---:|---:|---:|---:|---:|\n")
	}
	for _, run := range r.Runs {
		t := run.Trellis
		fmt.Fprintf(&b, "| %d | %.1f / %.1f / – | %.1f / %.1f / %.1f | %.2f / %.2f | %.1f / %.1f | %.1f / %.1f |\n", run.N, run.Floor.APIServerCPU, run.Floor.EtcdCPU,
			t.APIServerCPU, t.EtcdCPU, t.Controller.CPUSecondsActive, run.Floor.BusyCores, t.BusyCores,
			run.Floor.WatchEventsPerInstance, t.WatchEventsPerInstance, run.Floor.WatchKiBPerInstance, t.WatchKiBPerInstance)
	}
	b.WriteString(deletionCPUMarkdown(r.Runs))
	if len(r.Runs) > 0 && r.Runs[0].Trellis.Queue != nil {
		b.WriteString("\nController instance queue, first create → all ACTIVE (quiet: the queue drained, s after the first create):\n\n| N | workers | adds/inst | reconciles/inst | mean reconcile ms | mean queue wait ms | retries | quiet s |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, run := range r.Runs {
			if q := run.Trellis.Queue; q != nil {
				fmt.Fprintf(&b, "| %d | %d | %.2f | %.2f | %.1f | %.1f | %.0f | %.1f |\n", run.N, run.Trellis.Workers, q.AddsPerInstance, q.ReconcilesPerInstance, q.MeanReconcileMillis, q.MeanQueueWaitMillis, q.Retries, run.Trellis.QuietSeconds)
			}
		}
		if s := r.Scaling; s != nil {
			for _, w := range s.Runs {
				if q := w.Queue; q != nil {
					fmt.Fprintf(&b, "| %d | %d | %.2f | %.2f | %.1f | %.1f | %.0f | %.1f |\n", s.N, w.Workers, q.AddsPerInstance, q.ReconcilesPerInstance, q.MeanReconcileMillis, q.MeanQueueWaitMillis, q.Retries, w.QuietSeconds)
				}
			}
		}
	}
	b.WriteString(restartTable(r.Runs))
	if len(r.Runs) > 0 && r.Runs[0].FloorApply != nil {
		b.WriteString("\nFloor with trellis's verbs (children server-side applied, status merge-patched):\n\n| N | floor s | floor (apply) s | apply/create | trellis/floor (apply) | apiserver CPU s: floor / floor (apply) / trellis |\n|---:|---:|---:|---:|---:|---:|\n")
		for _, run := range r.Runs {
			if fa := run.FloorApply; fa != nil {
				fmt.Fprintf(&b, "| %d | %.1f | %.1f | %.2f× | %.2f× | %.1f / %.1f / %.1f |\n", run.N, run.Floor.Seconds, fa.Seconds,
					ratio(fa.Seconds, run.Floor.Seconds), ratio(run.Trellis.Seconds, fa.Seconds), run.Floor.APIServerCPU, fa.APIServerCPU, run.Trellis.APIServerCPU)
			}
		}
	}
	if s := r.Scaling; s != nil {
		fmt.Fprintf(&b, "\nWorkers at N=%d (the floor with as many instances in flight as trellis has workers):\n\n| workers | seconds to all ACTIVE | floor s | instances/s | writes/inst | CPU s: controller / apiserver / etcd | machine busy cores |\n|---:|---:|---:|---:|---:|---:|---:|\n", s.N)
		for _, w := range s.Runs {
			fmt.Fprintf(&b, "| %d | %.1f | %.1f | %.1f | %.2f | %.1f / %.1f / %.1f | %.2f |\n", w.Workers, w.Seconds, w.FloorSeconds, w.PerSecond, w.WritesPerInstance,
				w.ControllerCPU, w.APIServerCPU, w.EtcdCPU, w.BusyCores)
		}
		if r.Settings.Repeat > 1 {
			for _, w := range s.Runs {
				fmt.Fprintf(&b, "\n%d workers, seconds of each repetition (the table shows the median): trellis %v, floor %v", w.Workers, w.Repeats, w.FloorRepeats)
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\nSpeedup %d→%d workers: **%.2f×** (the floor, same concurrencies: %.2f×)\n", s.Runs[0].Workers, s.Runs[len(s.Runs)-1].Workers, s.Speedup, s.FloorSpeedup)
	}
	b.WriteString(graphsMarkdown(r.Graphs))
	if len(r.Targets) > 0 {
		b.WriteString("\n| target | goal | measured | met |\n|---|---|---:|:---:|\n")
		for _, t := range r.Targets {
			met := "no"
			if t.Met {
				met = "yes"
			}
			fmt.Fprintf(&b, "| %s | %s | %.2f | %s |\n", t.Name, t.Goal, t.Value, met)
		}
	}
	// Where the writes went, per N: the evidence behind writes/inst.
	for _, run := range r.Runs {
		fmt.Fprintf(&b, "\nWrites per instance by resource and verb, N=%d (trellis, first create → controller queue drained + settle):\n\n", run.N)
		b.WriteString(breakdownTable(run.Trellis.Breakdown, run.N))
		fmt.Fprintf(&b, "| %s | all | | %.2f |\n", EventResource+" (not counted above)", run.Trellis.EventWritesPerInstance)
		section := func(title string, lines []Line) {
			if len(lines) > 0 {
				fmt.Fprintf(&b, "\n%s, N=%d:\n\n", title, run.N)
				b.WriteString(breakdownTable(lines, run.N))
			}
		}
		if c := run.Trellis.Change; c != nil {
			section("RGD change writes per instance", c.Breakdown)
		}
		if rs := run.Trellis.RestartChanged; rs != nil {
			section("Writes per instance of the restart with the RGD changed while down", rs.Breakdown)
		}
		if rs := run.Trellis.Restart; rs != nil {
			section("Writes per instance of the restart (nothing changed)", rs.Breakdown)
		}
		if d := run.Trellis.Delete; d != nil {
			section("Deletion writes per instance", d.Breakdown)
		}
	}
	return b.String()
}

// restartTable renders the restart figures of every run that has them.
func restartTable(runs []Row) string {
	var b strings.Builder
	for _, run := range runs {
		for _, rs := range []*Restart{run.Trellis.Restart, run.Trellis.RestartChanged} {
			if rs == nil {
				continue
			}
			if b.Len() == 0 {
				b.WriteString("\nController restart with every instance ACTIVE (ready and settled: s after the new process started; settled = every instance reconciled and the queue empty; floor: a fresh client listing and syncing informers on the same objects):\n\n| N | RGD changed while down | ready s | first reconcile s | settled s | floor list+sync s | reconciles/inst | workload writes | writes/inst | CRD writes | CPU s | peak RSS MiB |\n|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
			}
			changed := "no"
			if rs.RGDChanged {
				changed = "yes"
			}
			fmt.Fprintf(&b, "| %d | %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.0f | %.2f | %.0f | %.1f | %.0f |\n", run.N, changed, rs.ReadySeconds, rs.FirstReconcileSeconds, rs.SettledSeconds,
				rs.SyncSeconds, rs.ReconcilesPerInstance, rs.Writes, rs.WritesPerInstance, rs.CRDWrites, rs.CPUSeconds, rs.PeakRSSMiB)
		}
	}
	return b.String()
}

func breakdownTable(lines []Line, n int) string {
	var b strings.Builder
	b.WriteString("| resource | verb | code | per instance |\n|---|---|---|---:|\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f |\n", l.Resource, l.Verb, l.Code, perInstance(l.Count, n))
	}
	return b.String()
}

// deletionMemoryMarkdown sets the controller's peak RSS during the
// deletion beside its RSS at all-ACTIVE: the deletion's own memory.
func deletionMemoryMarkdown(runs []Row) string {
	var b strings.Builder
	for _, run := range runs {
		t := run.Trellis
		if t.Delete == nil || t.Delete.ControllerPeakRSSMiB == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("\nController memory: RSS when all instances were ACTIVE, and its peak during the deletion alone:\n\n| N | RSS at all-ACTIVE MiB | peak RSS during deletion MiB |\n|---:|---:|---:|\n")
		}
		fmt.Fprintf(&b, "| %d | %.1f | %.1f |\n", run.N, t.Controller.RSSAtActiveMiB, t.Delete.ControllerPeakRSSMiB)
	}
	return b.String()
}
