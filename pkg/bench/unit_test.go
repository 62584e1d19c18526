package bench

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

const exposition = `# HELP apiserver_request_total [STABLE] Counter of apiserver requests
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="POST",version="v1"} 10
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="All",group="",resource="configmaps",scope="resource",subresource="",verb="APPLY",version="v1"} 99
apiserver_request_total{code="200",component="apiserver",dry_run="",group="kro.run",resource="benchapps",scope="resource",subresource="status",verb="PATCH",version="v1alpha1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="configmaps",scope="resource",subresource="",verb="GET",version="v1"} 7e+02
apiserver_request_total{code="200",component="apiserver",dry_run="",group="coordination.k8s.io",resource="leases",scope="resource",subresource="",verb="PUT",version="v1"} 50
apiserver_request_total_extra{code="200"} 1
apiserver_request_duration_seconds_bucket{le="0.1",verb="GET"} 5
`

func TestParseMetric(t *testing.T) {
	samples, err := ParseMetric(strings.NewReader(exposition), "apiserver_request_total")
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 6 {
		t.Fatalf("got %d samples, want 6", len(samples))
	}
	if s := samples[4]; s.Value != 700 || s.Labels["verb"] != "GET" {
		t.Errorf("sample 4 = %+v", s)
	}
	quoted := `m{a="x\"y",b="1,2}",c="back\\slash"} 2.5`
	samples, err = ParseMetric(strings.NewReader(quoted), "m")
	if err != nil {
		t.Fatal(err)
	}
	if l := samples[0].Labels; l["a"] != `x"y` || l["b"] != "1,2}" || l["c"] != `back\slash` || samples[0].Value != 2.5 {
		t.Errorf("escaped labels: %+v", samples[0])
	}
	if _, err := ParseMetric(strings.NewReader(`m{a="x} 1`), "m"); err == nil {
		t.Error("unterminated label value accepted")
	}
	if s, err := ParseMetric(strings.NewReader("m 3\n"), "m"); err != nil || len(s) != 1 || s[0].Value != 3 {
		t.Errorf("unlabelled sample: %v %v", s, err)
	}
}

func TestRequests(t *testing.T) {
	parse := func(text string) Requests {
		s, err := ParseMetric(strings.NewReader(text), "apiserver_request_total")
		if err != nil {
			t.Fatal(err)
		}
		return RequestsFromSamples(s)
	}
	before := parse(exposition)
	after := parse(strings.NewReplacer(`verb="POST",version="v1"} 10`, `verb="POST",version="v1"} 25`,
		`verb="PATCH",version="v1alpha1"} 3`, `verb="PATCH",version="v1alpha1"} 4`,
		`verb="PUT",version="v1"} 50`, `verb="PUT",version="v1"} 60`,
		`verb="GET",version="v1"} 7e+02`, `verb="GET",version="v1"} 900`).Replace(exposition))
	d := after.Sub(before)
	if d.Total() != 15+1+10+200 {
		t.Errorf("delta total = %v", d.Total())
	}
	w := d.Mutating().Resources(CountedResources...)
	if w.Total() != 16 {
		t.Errorf("workload writes = %v, want 16 (leases, GETs and dry runs excluded)", w.Total())
	}
	if other := d.Mutating().Without(CountedResources...); other.Total() != 10 {
		t.Errorf("other writes = %v", other.Total())
	}
	lines := w.Breakdown()
	if len(lines) != 2 || lines[0] != (Line{Resource: "configmaps", Verb: "POST", Code: "201", Count: 15}) ||
		lines[1] != (Line{Resource: "benchapps/status", Verb: "PATCH", Code: "200", Count: 1}) {
		t.Errorf("breakdown = %+v", lines)
	}
	if _, ok := before[RequestKey{Resource: "configmaps", Verb: "APPLY", Code: "200"}]; ok {
		t.Error("dry-run request kept")
	}
}

func TestClientWrites(t *testing.T) {
	text := `rest_client_requests_total{code="200",host="h",method="GET"} 100
rest_client_requests_total{code="201",host="h",method="POST"} 3
rest_client_requests_total{code="200",host="h",method="PATCH"} 5
rest_client_requests_total{code="409",host="h",method="PATCH"} 1
rest_client_requests_total{code="200",host="h",method="DELETE"} 2
rest_client_requests_total{code="200",host="h",method="PUT"} 4
`
	s, err := ParseMetric(strings.NewReader(text), "rest_client_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	if got := ClientWrites(s); got != 15 {
		t.Errorf("ClientWrites = %v, want 15", got)
	}
}

func TestProcParsing(t *testing.T) {
	status := "Name:\ttrellis\nVmPeak:\t 900000 kB\nVmHWM:\t  102400 kB\nVmRSS:\t   51200 kB\nThreads:\t12\n"
	hwm, rss, err := parseStatus(status)
	if err != nil || hwm != 100<<20 || rss != 50<<20 {
		t.Errorf("parseStatus = %d %d %v", hwm, rss, err)
	}
	if _, _, err := parseStatus("Name:\tx\n"); err == nil {
		t.Error("missing VmHWM accepted")
	}
	// comm with spaces and a parenthesis; utime=250, stime=50 ticks.
	stat := "4242 (trel lis) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 1000 200"
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3 {
		t.Errorf("parseStatCPU = %v %v", cpu, err)
	}
	if ps, err := ReadProc(os.Getpid()); err != nil || ps.PeakRSS <= 0 || ps.RSS <= 0 || ps.PeakRSS < ps.RSS {
		t.Errorf("ReadProc(self) = %+v, %v", ps, err)
	}
}

func TestCPUTimes(t *testing.T) {
	a, err := parseCPUTimes("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n")
	if err != nil || a.Busy != 150 || a.Total != 1000 {
		t.Fatalf("parseCPUTimes = %+v %v", a, err)
	}
	b := CPUTimes{Busy: 450, Total: 1400}
	if got := BusyCores(a, b, 2); math.Abs(got-1.5) > 1e-9 {
		t.Errorf("BusyCores = %v, want 1.5", got)
	}
	if _, err := ReadCPUTimes(); err != nil {
		t.Error(err)
	}
}

func TestParseQueue(t *testing.T) {
	text := `workqueue_adds_total{controller="instances",name="instances"} 2000
workqueue_adds_total{controller="rgd",name="rgd"} 3
workqueue_retries_total{controller="instances",name="instances"} 4
workqueue_work_duration_seconds_sum{controller="instances",name="instances"} 30
workqueue_work_duration_seconds_count{controller="instances",name="instances"} 1500
workqueue_work_duration_seconds_bucket{controller="instances",name="instances",le="+Inf"} 1500
workqueue_queue_duration_seconds_sum{controller="instances",name="instances"} 150
workqueue_queue_duration_seconds_count{controller="instances",name="instances"} 1500
`
	q, err := ParseQueue(text, "instances")
	if err != nil {
		t.Fatal(err)
	}
	got := NewQueue(q.Sub(QueueCounters{Adds: 1000, WorkSum: 10, WorkCount: 500, QueueSum: 50, QueueCount: 500}), 1000)
	want := Queue{AddsPerInstance: 1, ReconcilesPerInstance: 1, Retries: 4, MeanReconcileMillis: 20, MeanQueueWaitMillis: 100}
	if *got != want {
		t.Errorf("queue = %+v, want %+v", *got, want)
	}
}

func sampleReport() *Report {
	idle := &Idle{Seconds: 60, Writes: 0}
	r := &Report{
		Date: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), Machine: Machine{CPUs: 2}, Kubernetes: "v1.36.3", Trellis: "test",
		Settings: Settings{Workers: 16, Concurrency: 16},
		Runs: []Row{
			{N: 100, Ratio: 1.1, Floor: Floor{Seconds: 1}, Trellis: Trellis{Seconds: 1.1, WritesPerInstance: 9, Controller: ControllerUse{PeakRSSMiB: 60}}},
			{N: 1000, Ratio: 1.2, Floor: Floor{Seconds: 10, DeleteSeconds: 2.5}, Trellis: Trellis{Seconds: 12, WritesPerInstance: 8, Idle: idle,
				Controller: ControllerUse{PeakRSSMiB: 90}, Breakdown: []Line{{Resource: "configmaps", Verb: "APPLY", Code: "201", Count: 2000}},
				Delete: &Delete{Seconds: 3}, Change: &Change{Seconds: 2, WritesPerInstance: 1},
				Restart: &Restart{SettledSeconds: 3, SyncSeconds: 2},
				RestartChanged: &Restart{RGDChanged: true, Writes: 2000, WritesPerInstance: 2, Breakdown: []Line{
					{Resource: "benchapps/status", Verb: "PATCH", Code: "200", Count: 1000},
					{Resource: "configmaps", Verb: "APPLY", Code: "200", Count: 1000}}}}},
			{N: 5000, Ratio: 1.5, Floor: Floor{Seconds: 50}, Trellis: Trellis{Seconds: 75, WritesPerInstance: 8, Controller: ControllerUse{PeakRSSMiB: 160}}},
		},
		Scaling: &Scaling{N: 1000, Runs: []ScalingRun{{Workers: 1, Seconds: 30, FloorSeconds: 12}, {Workers: 4, Seconds: 10, FloorSeconds: 8}}, Speedup: 3, FloorSpeedup: 1.5},
	}
	for i := range r.Runs {
		run := &r.Runs[i]
		run.Pairs = []Pair{pairOf(run.Floor, run.Trellis)}
		run.Summarize()
	}
	return r
}

func TestEvaluateTargets(t *testing.T) {
	r := sampleReport()
	r.EvaluateTargets()
	want := map[string]bool{
		"time ratio trellis/floor at N=1000":                        true,
		"mutating requests per instance at N=1000":                  true,
		"writes per idle minute at N=1000":                          true,
		"Event writes per instance at N=1000 (all writers)":         true,
		"Event writes while idle at N=1000":                         true,
		"controller peak RSS at N=5000":                             false,
		"speedup 1→4 workers at N=1000":                             true,
		"speedup 1→4 workers / the floor's at N=1000":               true,
		"deletion time trellis/floor at N=1000 (median of 1 pairs)": true,
		"controller CPU while idle at N=1000, % of a core":          true,
		"writes after a restart at N=1000":                          true,
		"restart settled / floor list+sync at N=1000":               false,
		"writes per instance after a restart with the RGD changed at N=1000 (the changed config once, the status revision once)": true,
	}
	if len(r.Targets) != len(want) {
		t.Fatalf("targets = %+v", r.Targets)
	}
	for _, tg := range r.Targets {
		met, ok := want[tg.Name]
		if !ok || met != tg.Met {
			t.Errorf("target %q met=%v (value %v), want present and met=%v", tg.Name, tg.Met, tg.Value, met)
		}
	}
	// Without N=1000 the closest N is judged.
	r.Runs = r.Runs[:1]
	r.Scaling = nil
	r.EvaluateTargets()
	if r.Targets[0].Name != "time ratio trellis/floor at N=100" || r.Targets[1].Met {
		t.Errorf("targets at N=100: %+v", r.Targets)
	}
}

// A --scale run without its floor (--scale-floor=false) is judged on its
// memory only: a ratio of 0 must not pass for "no worse than at N=5000".
func TestScaleRunWithoutFloor(t *testing.T) {
	r := sampleReport()
	large := Row{N: 20000, Scale: true, Trellis: Trellis{Seconds: 900, Controller: ControllerUse{PeakRSSMiB: 350}}}
	large.Pairs = []Pair{pairOf(large.Floor, large.Trellis)}
	large.Summarize()
	r.Runs = append(r.Runs, large)
	r.EvaluateTargets()
	var rss bool
	for _, tg := range r.Targets {
		if strings.HasPrefix(tg.Name, "time ratio at N=20000") {
			t.Errorf("a floorless run has a ratio target: %+v", tg)
		}
		if tg.Name == "controller peak RSS at N=20000 (--scale)" {
			rss = tg.Met
		}
	}
	if !rss {
		t.Errorf("the RSS target of the floorless run is missing or not met: %+v", r.Targets)
	}
	if md := r.Markdown(); !strings.Contains(md, "N=20000 ran without the floor") {
		t.Errorf("the report does not say the floor was skipped:\n%s", md)
	}

	// The floorless run alone (-n 0 --scale-floor=false): it is the run the
	// general targets are judged at, and it has no ratio to judge.
	alone := Report{Runs: []Row{large}}
	alone.EvaluateTargets()
	for _, tg := range alone.Targets {
		if strings.HasPrefix(tg.Name, "time ratio") {
			t.Errorf("a floorless run alone has a ratio target: %+v", tg)
		}
	}
	if md := alone.Markdown(); strings.Contains(md, "0.00×") || !strings.Contains(md, "| 20000 | – | 900.0 | – | – |") {
		t.Errorf("the floorless run's row shows a floor or a ratio:\n%s", md)
	}
}

func TestReportWrite(t *testing.T) {
	r := sampleReport()
	r.Settings.ControllerEnv = []string{"GOMEMLIMIT=330MiB"}
	r.EvaluateTargets()
	dir := t.TempDir()
	path, err := r.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "2026-11-22T030000Z.json" {
		t.Errorf("path = %s", path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 3 || back.Runs[1].Trellis.Idle == nil || back.Scaling.Speedup != 3 || len(back.Settings.ControllerEnv) != 1 {
		t.Errorf("round trip lost figures: %+v", back)
	}
	md, err := os.ReadFile(filepath.Join(dir, "2026-11-22T030000Z.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| 1000 | 10.0 | 12.0 | **1.20×** |", "Speedup 1→4 workers: **3.00×** (the floor, same concurrencies: 1.50×)", "| 4 | 10.0 | 8.0 |", "| configmaps | APPLY | 201 | 2.00 |", "The controller ran with GOMEMLIMIT=330MiB."} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// A report written mid-run says so, and the rewrite at the end replaces it.
func TestPartialReport(t *testing.T) {
	r := sampleReport()
	r.Unfinished, r.WallSeconds = "running, N=100 done", 42
	dir := t.TempDir()
	if _, err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "2026-11-22T030000Z.md")
	if raw, _ := os.ReadFile(md); !strings.Contains(string(raw), "**Partial report** after 42 s: running, N=100 done.") {
		t.Errorf("partial markdown lacks the marker:\n%s", raw)
	}
	r.Unfinished, r.WallSeconds = "", 600
	if _, err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(md); strings.Contains(string(raw), "Partial") || !strings.Contains(string(raw), "Whole run: 10.0 min.") {
		t.Errorf("final markdown:\n%s", raw)
	}
}

func TestHelpers(t *testing.T) {
	if got := round(1.23456, 2); math.Abs(got-1.23) > 1e-9 {
		t.Errorf("round = %v", got)
	}
	if ratio(1, 0) != 0 || perInstance(5, 0) != 0 {
		t.Error("division by zero not guarded")
	}
	if !hasLabel(map[string]string{ChangeLabel: "2"}, ChangeLabel+"=2") || hasLabel(map[string]string{ChangeLabel: "3"}, ChangeLabel+"=2") {
		t.Error("hasLabel")
	}
	names := instanceNames(3)
	if strings.Join(names, ",") != "app-00000,app-00001,app-00002" {
		t.Errorf("names = %v", names)
	}
	total := 0
	for _, cs := range childNames("a") {
		total += len(cs)
	}
	if total != childrenPerInstance {
		t.Errorf("childNames has %d children, want %d", total, childrenPerInstance)
	}
}

// The embedded workload must stay the shared benchmark RGD.
func TestEmbeddedRGD(t *testing.T) {
	var rgd map[string]any
	if err := yaml.Unmarshal(RGD, &rgd); err != nil {
		t.Fatal(err)
	}
	res := rgd["spec"].(map[string]any)["resources"].([]any)
	if len(res) != childrenPerInstance {
		t.Errorf("RGD has %d resources, want %d", len(res), childrenPerInstance)
	}
	if shared, err := os.ReadFile("../../../shared/bench/rgd-bench.yaml"); err == nil && string(shared) != string(RGD) {
		t.Error("testdata/rgd-bench.yaml differs from the shared bench/rgd-bench.yaml")
	}
}

func TestRowSummarizeTakesMediansOfPairs(t *testing.T) {
	r := Row{N: 1000, Pairs: []Pair{NewPair(10, 15), NewPair(8, 9.6), NewPair(12, 14.4)}}
	r.Summarize()
	// Times are medians of their own column; the ratio is the median of the
	// pairwise ratios (1.5, 1.2, 1.2), not the ratio of the medians.
	if r.FloorSeconds != 10 || r.TrellisSeconds != 14.4 || r.Ratio != 1.2 {
		t.Fatalf("got floor %v trellis %v ratio %v, want 10, 14.4, 1.2", r.FloorSeconds, r.TrellisSeconds, r.Ratio)
	}
	// Deletion: the median of the pairs that measured it.
	r = Row{N: 1000, Pairs: []Pair{
		pairOf(Floor{Seconds: 10, DeleteSeconds: 10}, Trellis{Seconds: 12, Delete: &Delete{Seconds: 20}}),
		pairOf(Floor{Seconds: 10, DeleteSeconds: 10}, Trellis{Seconds: 12, Delete: &Delete{Seconds: 11}}),
		pairOf(Floor{Seconds: 10, DeleteSeconds: 10}, Trellis{Seconds: 12, Delete: &Delete{Seconds: 12}}),
		NewPair(10, 12),
	}}
	r.Summarize()
	if r.DeleteRatio != 1.2 {
		t.Fatalf("deletion ratio = %v, want 1.2 (the median of 2.0, 1.1, 1.2)", r.DeleteRatio)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Fatalf("median of an even count = %v, want 2.5", m)
	}
	if m := median(nil); m != 0 {
		t.Fatalf("median of none = %v", m)
	}
}

func TestDeletionCPUMarkdown(t *testing.T) {
	runs := []Row{
		{N: 100, Trellis: Trellis{Delete: &Delete{Seconds: 1}}}, // recorded no CPU: left out
		{N: 1000, Floor: Floor{DeleteCPU: &CPUSplit{APIServer: 10, Etcd: 2, BusyCores: 1.9}},
			Trellis: Trellis{Delete: &Delete{CPU: &CPUSplit{APIServer: 12, Etcd: 3, Controller: 3, BusyCores: 2}}}},
	}
	got := deletionCPUMarkdown(runs)
	want := "| 1000 | 10.0 / 2.0 / – = 12.0 | 12.0 / 3.0 / 3.0 = 18.0 | 1.50× | 1.90 / 2.00 |\n"
	if !strings.HasSuffix(got, want) || strings.Contains(got, "| 100 |") {
		t.Errorf("deletion CPU table:\n%s\nwant it to end with\n%s", got, want)
	}
	if deletionCPUMarkdown(runs[:1]) != "" {
		t.Error("a report without deletion CPU has no table")
	}
}

func TestDeletionMemoryMarkdown(t *testing.T) {
	runs := []Row{
		{N: 100, Trellis: Trellis{Delete: &Delete{Seconds: 1}}}, // in-process controller: no RSS, left out
		{N: 5000, Trellis: Trellis{Controller: ControllerUse{RSSAtActiveMiB: 183.1}, Delete: &Delete{ControllerPeakRSSMiB: 190.25}}},
	}
	got := deletionMemoryMarkdown(runs)
	if !strings.HasSuffix(got, "| 5000 | 183.1 | 190.2 |\n") || strings.Contains(got, "| 100 |") {
		t.Errorf("deletion memory table:\n%s", got)
	}
	if deletionMemoryMarkdown(runs[:1]) != "" {
		t.Error("a report without the deletion's RSS has no table")
	}
}

// The deletion's peak RSS is read after resetting VmHWM: a reset must
// bring the peak of a process that once held much more back down.
func TestResetPeakRSS(t *testing.T) {
	big := make([]byte, 256<<20)
	for i := 0; i < len(big); i += 4096 {
		big[i] = 1 // touch every page so it is resident
	}
	before, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(big)
	big = nil
	debug.FreeOSMemory()
	if err := ResetPeakRSS(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	after, err := ReadProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.PeakRSS > before.PeakRSS-128<<20 {
		t.Errorf("peak RSS %d MiB before the reset, %d MiB after: the 256 MiB freed still counted", before.PeakRSS>>20, after.PeakRSS>>20)
	}
}
