package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Report is everything one `trellis bench` run measured. It is written as
// JSON next to a markdown rendering of the same figures.
type Report struct {
	Date       time.Time `json:"date"`
	Machine    Machine   `json:"machine"`
	Kubernetes string    `json:"kubernetes"`
	Trellis    string    `json:"trellis"`
	Settings   Settings  `json:"settings"`
	Runs       []Row     `json:"runs"`
	Scaling    *Scaling  `json:"scaling,omitempty"`
	// Graphs are the big graphs of --graphs.
	Graphs  []GraphRun `json:"graphs,omitempty"`
	Targets []Target   `json:"targets"`
	// WallSeconds is the run's elapsed time so far (control plane start
	// included).
	WallSeconds float64 `json:"wall_seconds"`
	// Unfinished says why the figures stop where they do: the run is still
	// going (the report is rewritten after every phase) or it failed.
	Unfinished string `json:"unfinished,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	MemoryMiB int64  `json:"memory_mib"`
	Load1     string `json:"load1_at_start"`
	OS        string `json:"os"`
}

// Settings are the options the run used.
type Settings struct {
	Ns              []int    `json:"ns"`
	Workers         int      `json:"workers"`
	Concurrency     int      `json:"floor_concurrency"`
	ClientQPS       float32  `json:"client_qps"`
	ClientBurst     int      `json:"client_burst"`
	IdleN           int      `json:"idle_n"`
	IdleSeconds     float64  `json:"idle_seconds"`
	SettleSeconds   float64  `json:"settle_seconds"`
	ScaleN          int      `json:"scale_n"`
	ScaleWorkers    []int    `json:"scale_workers"`
	Repeat          int      `json:"repeat"`
	CountedResource []string `json:"counted_resources"`
	// ControllerArgs and ControllerEnv: --controller-arg and --controller-env.
	ControllerArgs []string `json:"controller_args,omitempty"`
	ControllerEnv  []string `json:"controller_env,omitempty"`
}

// Row is one N: the floor and trellis on the same workload.
type Row struct {
	N int `json:"n"`
	// Scale marks the --scale run (creation, memory, deletion only).
	Scale bool  `json:"scale,omitempty"`
	Floor Floor `json:"floor"`
	// FloorApply is the floor with trellis's verbs (--floor-apply).
	FloorApply *Floor  `json:"floor_apply,omitempty"`
	Trellis    Trellis `json:"trellis"`
	// Pairs are the floor and trellis times of every repetition (--repeat),
	// each pair measured back to back; Floor and Trellis hold the full
	// figures of the first pair.
	Pairs []Pair `json:"pairs"`
	// FloorSeconds and TrellisSeconds are the medians over Pairs.
	FloorSeconds   float64 `json:"floor_seconds"`
	TrellisSeconds float64 `json:"trellis_seconds"`
	// Ratio is the median of the pairs' trellis/floor ratios: each ratio
	// compares two runs under the same machine load.
	Ratio float64 `json:"ratio"`
	// DeleteRatio is the same median for deleting the N instances.
	DeleteRatio float64 `json:"delete_ratio,omitempty"`
}

// Pair is one repetition: the floor, then trellis, on the same N.
type Pair struct {
	FloorSeconds   float64 `json:"floor_seconds"`
	TrellisSeconds float64 `json:"trellis_seconds"`
	Ratio          float64 `json:"ratio"`
	// DeleteRatio is the pair's deletion time, trellis/floor (0: not measured).
	DeleteRatio float64 `json:"delete_ratio,omitempty"`
}

// NewPair computes a pair's ratio.
func NewPair(floor, trellis float64) Pair {
	return Pair{FloorSeconds: floor, TrellisSeconds: trellis, Ratio: round(ratio(trellis, floor), 3)}
}

// Summarize fills the medians and the ratios from Pairs.
func (r *Row) Summarize() {
	var f, t, q, d []float64
	for _, p := range r.Pairs {
		f, t, q = append(f, p.FloorSeconds), append(t, p.TrellisSeconds), append(q, p.Ratio)
		if p.DeleteRatio > 0 {
			d = append(d, p.DeleteRatio)
		}
	}
	r.FloorSeconds, r.TrellisSeconds, r.Ratio = median(f), median(t), round(median(q), 3)
	r.DeleteRatio = round(median(d), 3)
}

// pairOf is the pair of one floor and one trellis run, deletion included.
func pairOf(f Floor, t Trellis) Pair {
	p := NewPair(f.Seconds, t.Seconds)
	if t.Delete != nil {
		p.DeleteRatio = round(ratio(t.Delete.Seconds, f.DeleteSeconds), 3)
	}
	return p
}

// median of vs (0 for none; the mean of the middle two for an even count).
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// Floor is the plain-client baseline.
type Floor struct {
	Seconds           float64 `json:"seconds"`
	Writes            float64 `json:"writes"`
	WritesPerInstance float64 `json:"writes_per_instance"`
	Breakdown         []Line  `json:"breakdown"`
	// Watch events (and KiB) the apiserver sent to all watchers, per instance.
	WatchEventsPerInstance float64 `json:"watch_events_per_instance"`
	WatchKiBPerInstance    float64 `json:"watch_kib_per_instance"`
	APIServerCPU           float64 `json:"apiserver_cpu_seconds"`
	EtcdCPU                float64 `json:"etcd_cpu_seconds"`
	// BusyCores is the machine's average busy cores meanwhile (all
	// processes, other users included: the noise indicator).
	BusyCores float64 `json:"machine_busy_cores"`
	// DeleteSeconds: deleting every object (instance and children) with the
	// same concurrency until the watch saw them all gone.
	DeleteSeconds float64   `json:"delete_seconds"`
	DeleteCPU     *CPUSplit `json:"delete_cpu,omitempty"`
	// ChangeSeconds: the RGD change's edit (a label on every config
	// ConfigMap) made by the plain client, until the watch saw it on all.
	ChangeSeconds float64 `json:"change_seconds,omitempty"`
}

// Trellis is one trellis run on N instances.
type Trellis struct {
	Workers        int     `json:"workers"`
	Seconds        float64 `json:"seconds"`
	CreatesSeconds float64 `json:"creates_seconds"`
	// QuietSeconds: first create → the controller's queue empty and idle
	// (the writes are counted from there, plus the settle).
	QuietSeconds           float64 `json:"quiet_seconds,omitempty"`
	Writes                 float64 `json:"writes"`
	WritesPerInstance      float64 `json:"writes_per_instance"`
	Breakdown              []Line  `json:"breakdown"`
	WatchEventsPerInstance float64 `json:"watch_events_per_instance"`
	WatchKiBPerInstance    float64 `json:"watch_kib_per_instance"`
	// EventWrites are the writes of Events (all writers) in the same
	// window, not part of Writes.
	EventWrites            float64 `json:"event_writes"`
	EventWritesPerInstance float64 `json:"event_writes_per_instance"`
	// ControllerWrites is the controller's own count of its write requests
	// (client-go rest_client_requests_total on its /metrics), a cross-check.
	ControllerWrites *float64      `json:"controller_writes,omitempty"`
	Controller       ControllerUse `json:"controller"`
	// Queue is the instance workqueue from the first create to all-ACTIVE.
	Queue        *Queue  `json:"queue,omitempty"`
	APIServerCPU float64 `json:"apiserver_cpu_seconds"`
	EtcdCPU      float64 `json:"etcd_cpu_seconds"`
	BusyCores    float64 `json:"machine_busy_cores"`
	Idle         *Idle   `json:"idle,omitempty"`
	Change       *Change `json:"rgd_change,omitempty"`
	// Restart and RestartChanged: the controller restarted with every
	// instance ACTIVE, and again with the RGD changed while it was down.
	Restart        *Restart `json:"restart,omitempty"`
	RestartChanged *Restart `json:"restart_rgd_changed,omitempty"`
	Delete         *Delete  `json:"delete,omitempty"`
	// Replicas: each replica's use in a --replicas run (see Replicated).
	Replicas []ControllerUse `json:"replicas,omitempty"`
}

// ControllerUse is the controller process's resource use.
type ControllerUse struct {
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	RSSAtActiveMiB   float64 `json:"rss_at_active_mib"`
	CPUSecondsActive float64 `json:"cpu_seconds_to_active"`
	CPUSecondsTotal  float64 `json:"cpu_seconds_total"`
	// Goroutines of the controller at all-ACTIVE (go_goroutines): flat in
	// N when nothing runs per instance.
	Goroutines float64 `json:"goroutines_at_active,omitempty"`
}

// Queue summarises the controller's instance workqueue over a phase.
type Queue struct {
	AddsPerInstance       float64 `json:"adds_per_instance"`
	ReconcilesPerInstance float64 `json:"reconciles_per_instance"`
	Retries               float64 `json:"retries"`
	MeanReconcileMillis   float64 `json:"mean_reconcile_ms"`
	MeanQueueWaitMillis   float64 `json:"mean_queue_wait_ms"`
}

// NewQueue computes the figures from counter deltas.
func NewQueue(d QueueCounters, n int) *Queue {
	return &Queue{
		AddsPerInstance:       round(perInstance(d.Adds, n), 2),
		ReconcilesPerInstance: round(perInstance(d.WorkCount, n), 2),
		Retries:               d.Retries,
		MeanReconcileMillis:   round(ratio(d.WorkSum, d.WorkCount)*1000, 1),
		MeanQueueWaitMillis:   round(ratio(d.QueueSum, d.QueueCount)*1000, 1),
	}
}

// Idle is the write rate while every instance sits ACTIVE.
type Idle struct {
	Seconds       float64  `json:"seconds"`
	Writes        float64  `json:"writes"`
	WritesPerMin  float64  `json:"writes_per_minute"`
	AllWrites     float64  `json:"all_writes"`
	Breakdown     []Line   `json:"breakdown"`
	OtherWrites   []Line   `json:"other_writes,omitempty"`
	ControllerRaw *float64 `json:"controller_writes,omitempty"`
	// EventWrites are the writes of Events (all writers) while idle.
	EventWrites float64 `json:"event_writes"`
	// ControllerCPUPercent: the controller's CPU over the window, in % of
	// one core.
	ControllerCPUPercent float64 `json:"controller_cpu_percent"`
}

// Change is one RGD template change reaching every instance.
type Change struct {
	Seconds           float64 `json:"seconds"`
	QuietSeconds      float64 `json:"quiet_seconds,omitempty"`
	Writes            float64 `json:"writes"`
	WritesPerInstance float64 `json:"writes_per_instance"`
	Breakdown         []Line  `json:"breakdown"`
}

// Delete is deleting all N instances until every child is gone.
type Delete struct {
	Seconds              float64   `json:"seconds"`
	InstancesGoneSeconds float64   `json:"instances_gone_seconds"`
	CPU                  *CPUSplit `json:"cpu,omitempty"`
	// ControllerPeakRSSMiB is the controller's peak RSS during the deletion
	// alone (VmHWM reset at its start).
	ControllerPeakRSSMiB float64 `json:"controller_peak_rss_mib,omitempty"`
	Writes               float64 `json:"writes"`
	WritesPerInstance    float64 `json:"writes_per_instance"`
	Breakdown            []Line  `json:"breakdown"`
}

// Scaling compares worker counts on the same N.
type Scaling struct {
	N    int          `json:"n"`
	Runs []ScalingRun `json:"runs"`
	// Speedup is seconds with the fewest workers / seconds with the most.
	Speedup float64 `json:"speedup"`
	// FloorSpeedup is the same for the floor client at those concurrencies:
	// the most any controller could gain on this machine.
	FloorSpeedup float64 `json:"floor_speedup"`
}

// ScalingRun is one worker count. Seconds is the median of Repeats; the
// other figures are the first repetition's.
type ScalingRun struct {
	Workers int       `json:"workers"`
	Seconds float64   `json:"seconds"`
	Repeats []float64 `json:"repeats"`
	// FloorSeconds (median of FloorRepeats): the floor with this many
	// concurrent instances, the ceiling for the worker count.
	FloorSeconds      float64   `json:"floor_seconds"`
	FloorRepeats      []float64 `json:"floor_repeats"`
	PerSecond         float64   `json:"instances_per_second"`
	WritesPerInstance float64   `json:"writes_per_instance"`
	ControllerCPU     float64   `json:"controller_cpu_seconds"`
	APIServerCPU      float64   `json:"apiserver_cpu_seconds"`
	EtcdCPU           float64   `json:"etcd_cpu_seconds"`
	BusyCores         float64   `json:"machine_busy_cores"`
	Queue             *Queue    `json:"queue,omitempty"`
	QuietSeconds      float64   `json:"quiet_seconds,omitempty"`
}

// Target is one goal of issue 6 and whether this run met it.
type Target struct {
	Name  string  `json:"name"`
	Goal  string  `json:"goal"`
	Value float64 `json:"value"`
	Met   bool    `json:"met"`
}

func perInstance(writes float64, n int) float64 {
	if n == 0 {
		return 0
	}
	return writes / float64(n)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// round keeps d decimals, so the JSON stays readable.
func round(v float64, d int) float64 {
	p := math.Pow(10, float64(d))
	return math.Round(v*p) / p
}

// EvaluateTargets fills r.Targets from the runs: the targets of issue 6,
// judged at N=1000 (or the closest N measured) and at the largest N.
func (r *Report) EvaluateTargets() {
	r.Targets = nil
	at := r.closest(1000)
	if at != nil {
		if at.FloorSeconds > 0 { // a floorless --scale run (-n 0) has no ratio
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("time ratio trellis/floor at N=%d", at.N), Goal: "<= 1.3", Value: at.Ratio, Met: at.Ratio <= 1.3})
		}
		r.Targets = append(r.Targets,
			Target{Name: fmt.Sprintf("mutating requests per instance at N=%d", at.N), Goal: "<= 8", Value: at.Trellis.WritesPerInstance, Met: at.Trellis.WritesPerInstance <= 8},
			// The counter cannot tell writers apart: the cluster's own
			// components write a few Events too (0.01/instance at N=500).
			Target{Name: fmt.Sprintf("Event writes per instance at N=%d (all writers)", at.N), Goal: "<= 1.05", Value: at.Trellis.EventWritesPerInstance, Met: at.Trellis.EventWritesPerInstance <= 1.05})
	}
	for i := range r.Runs {
		if idle := r.Runs[i].Trellis.Idle; idle != nil {
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("writes per idle minute at N=%d", r.Runs[i].N), Goal: "0", Value: idle.WritesPerMin, Met: idle.Writes == 0})
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("Event writes while idle at N=%d", r.Runs[i].N), Goal: "0", Value: idle.EventWrites, Met: idle.EventWrites == 0})
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("controller CPU while idle at N=%d, %% of a core", r.Runs[i].N), Goal: "<= 1", Value: idle.ControllerCPUPercent, Met: idle.ControllerCPUPercent <= 1})
		}
	}
	for _, run := range r.Runs {
		if rs := run.Trellis.Restart; rs != nil {
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("writes after a restart at N=%d", run.N), Goal: "0", Value: rs.Writes + rs.CRDWrites, Met: rs.Writes+rs.CRDWrites == 0})
			if rs.SettledSeconds > 0 && rs.SyncSeconds > 0 {
				v := round(rs.SettledSeconds/rs.SyncSeconds, 2)
				r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("restart settled / floor list+sync at N=%d", run.N), Goal: "<= 1.1", Value: v, Met: v <= 1.1})
			}
		}
		if rs := run.Trellis.RestartChanged; rs != nil {
			// The changed child once, and the status once: status.graphRevision moves.
			configs := 0.0
			for _, l := range rs.Breakdown {
				if l.Resource == "configmaps" {
					configs += l.Count
				}
			}
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("writes per instance after a restart with the RGD changed at N=%d (the changed config once, the status revision once)", run.N),
				Goal: "2", Value: rs.WritesPerInstance, Met: configs == float64(run.N) && rs.Writes == float64(2*run.N) && rs.CRDWrites == 0})
		}
	}
	for _, run := range r.Runs {
		if run.DeleteRatio > 0 && (run.N == 1000 || run.N == 5000) {
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("deletion time trellis/floor at N=%d (median of %d pairs)", run.N, len(run.Pairs)), Goal: "<= 1.3", Value: run.DeleteRatio, Met: run.DeleteRatio <= 1.3})
		}
	}
	var big *Row
	for i := range r.Runs {
		run := &r.Runs[i]
		if run.Scale {
			v := run.Trellis.Controller.PeakRSSMiB
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("controller peak RSS at N=%d (--scale)", run.N), Goal: "<= 400 MiB", Value: v, Met: v > 0 && v <= 400})
			continue
		}
		if big == nil || run.N > big.N {
			big = run
		}
	}
	for _, run := range r.Runs {
		if run.Scale && big != nil && run.FloorSeconds > 0 {
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("time ratio at N=%d (--scale) vs N=%d", run.N, big.N), Goal: fmt.Sprintf("<= %.2f", big.Ratio), Value: run.Ratio, Met: run.Ratio <= big.Ratio})
		}
	}
	if big != nil {
		goal := "<= 150 MiB at N=5000"
		v := big.Trellis.Controller.PeakRSSMiB
		r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("controller peak RSS at N=%d", big.N), Goal: goal, Value: v, Met: v <= 150})
	}
	r.Targets = append(r.Targets, graphTargets(r.Graphs)...)
	if s := r.Scaling; s != nil && len(s.Runs) >= 2 {
		r.Targets = append(r.Targets, Target{
			Name: fmt.Sprintf("speedup %d→%d workers at N=%d", s.Runs[0].Workers, s.Runs[len(s.Runs)-1].Workers, s.N),
			Goal: ">= 2.5", Value: s.Speedup, Met: s.Speedup >= 2.5})
		// What this machine can show (issue 18): the floor's own speedup at
		// the same concurrencies is the ceiling.
		if s.FloorSpeedup > 0 {
			v := round(s.Speedup/s.FloorSpeedup, 2)
			r.Targets = append(r.Targets, Target{Name: fmt.Sprintf("speedup %d→%d workers / the floor's at N=%d", s.Runs[0].Workers, s.Runs[len(s.Runs)-1].Workers, s.N),
				Goal: ">= 0.9", Value: v, Met: v >= 0.9})
		}
	}
}

func (r *Report) closest(n int) *Row {
	var best *Row
	for i := range r.Runs {
		if best == nil || abs(r.Runs[i].N-n) < abs(best.N-n) {
			best = &r.Runs[i]
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Write stores the report as <dir>/<stamp>.json and <dir>/<stamp>.md and
// returns the JSON path.
func (r *Report) Write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	stamp := r.Date.UTC().Format("2006-01-02T150405Z")
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	jsonPath := filepath.Join(dir, stamp+".json")
	if err := os.WriteFile(jsonPath, append(raw, '\n'), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, stamp+".md"), []byte("# trellis bench "+stamp+"\n\n"+r.Markdown()), 0o644); err != nil {
		return "", err
	}
	return jsonPath, nil
}
