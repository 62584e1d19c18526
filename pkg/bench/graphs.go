// The big-graph phase (issue 18, --graphs): DeepApp, 40 children in 6
// dependency levels, and FanoutApp, a forEach of 200 ConfigMaps, each
// against a floor creating the same objects; time to ACTIVE, writes per
// child and the controller's passes per instance.

package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
)

// The graphs of issue 18.
const (
	DeepLevels  = 6
	DeepTotal   = 40
	FanoutItems = 200
)

// GraphResources are the resources whose writes count in the graph phase:
// the children's kinds and the instance kinds (trellis's and the floor's).
var GraphResources = []string{"configmaps", "secrets", "services", deepGVR.Resource, fanoutGVR.Resource, floorGraphGVR.Resource}

// GraphRun is one big graph on N instances: the floor, then trellis.
type GraphRun struct {
	Graph               string `json:"graph"`
	Kind                string `json:"kind"`
	N                   int    `json:"n"`
	ChildrenPerInstance int    `json:"children_per_instance"`
	Levels              int    `json:"levels"`
	// WaitingLevels are the levels that read a field only the API server
	// assigns (a Service's clusterIP): the goal is one pass for each.
	WaitingLevels  int     `json:"waiting_levels"`
	FloorSeconds   float64 `json:"floor_seconds"`
	TrellisSeconds float64 `json:"trellis_seconds"`
	Ratio          float64 `json:"ratio"`
	FloorWrites    float64 `json:"floor_writes"`
	TrellisWrites  float64 `json:"trellis_writes"`
	// Writes per child: all the workload's writes (instance and status
	// included) over N × children.
	FloorWritesPerChild   float64 `json:"floor_writes_per_child"`
	TrellisWritesPerChild float64 `json:"trellis_writes_per_child"`
	FloorBreakdown        []Line  `json:"floor_breakdown"`
	TrellisBreakdown      []Line  `json:"trellis_breakdown"`
	// PassesPerInstance is the controller's instance_reconcile_total for the
	// kind over the phase, per instance (-1: the controller has no metrics).
	PassesPerInstance float64 `json:"passes_per_instance"`
	Queue             *Queue  `json:"queue,omitempty"`
	QuietSeconds      float64 `json:"quiet_seconds,omitempty"`
	ControllerCPU     float64 `json:"controller_cpu_seconds"`
	FloorBusyCores    float64 `json:"floor_machine_busy_cores"`
	TrellisBusyCores  float64 `json:"trellis_machine_busy_cores"`
}

// graphWorkload is what the phase needs to know of one graph.
type graphWorkload struct {
	name        string
	kind        string
	gvr         schema.GroupVersionResource
	rgd         *unstructured.Unstructured
	children    int
	levels      int
	waiting     int
	items       []string // every instance's spec.items
	activeField string   // the status field the RGD projects
	floor       func(ctx context.Context, f *graphFloorClient, name string) error
}

func deepWorkload() (graphWorkload, error) {
	g, err := NewDeepGraph(DeepLevels, DeepTotal)
	if err != nil {
		return graphWorkload{}, err
	}
	return graphWorkload{name: "deep", kind: deepKind, gvr: deepGVR, rgd: g.RGD(), children: g.Total, levels: g.Levels,
		waiting: g.WaitingLevels(), activeField: "last",
		floor: func(ctx context.Context, f *graphFloorClient, name string) error { return f.deep(ctx, g, name) }}, nil
}

func fanoutWorkload() graphWorkload {
	fg := FanoutGraph{Items: FanoutItems}
	return graphWorkload{name: "fanout", kind: fanoutKind, gvr: fanoutGVR, rgd: fg.RGD(), children: fg.Items, levels: 1,
		items: fg.ItemNames(), activeField: "count",
		floor: func(ctx context.Context, f *graphFloorClient, name string) error { return f.fanout(ctx, fg, name) }}
}

// graphs runs the deep graph at GraphsDeepN and the fanout at
// GraphsFanoutN (0 skips either).
func (r *runner) graphs(ctx context.Context) ([]GraphRun, error) {
	if err := ensureCRD(ctx, r.ext, floorGraphCRD()); err != nil {
		return nil, err
	}
	var out []GraphRun
	if r.o.GraphsDeepN > 0 {
		w, err := deepWorkload()
		if err != nil {
			return nil, err
		}
		run, err := r.graph(ctx, w, r.o.GraphsDeepN)
		if err != nil {
			return out, fmt.Errorf("deep graph N=%d: %w", r.o.GraphsDeepN, err)
		}
		out = append(out, run)
	}
	if r.o.GraphsFanoutN > 0 {
		run, err := r.graph(ctx, fanoutWorkload(), r.o.GraphsFanoutN)
		if err != nil {
			return out, fmt.Errorf("fanout graph N=%d: %w", r.o.GraphsFanoutN, err)
		}
		out = append(out, run)
	}
	return out, nil
}

// graph measures one workload: the floor, then trellis, on n instances.
func (r *runner) graph(ctx context.Context, w graphWorkload, n int) (GraphRun, error) {
	run := GraphRun{Graph: w.name, Kind: w.kind, N: n, ChildrenPerInstance: w.children, Levels: w.levels, WaitingLevels: w.waiting, PassesPerInstance: -1}
	children := n * w.children
	if err := r.graphFloor(ctx, w, n, &run); err != nil {
		return run, fmt.Errorf("floor: %w", err)
	}
	if err := r.graphTrellis(ctx, w, n, &run); err != nil {
		return run, fmt.Errorf("trellis: %w", err)
	}
	run.FloorWritesPerChild = round(perInstance(run.FloorWrites, children), 3)
	run.TrellisWritesPerChild = round(perInstance(run.TrellisWrites, children), 3)
	run.Ratio = round(ratio(run.TrellisSeconds, run.FloorSeconds), 3)
	r.logf("graph %s N=%d (%d children): floor %.1fs, trellis %.1fs (%.2f×), writes/child %.3f vs %.3f, passes/instance %.2f (waiting levels %d of %d)",
		w.name, n, children, run.FloorSeconds, run.TrellisSeconds, run.Ratio, run.FloorWritesPerChild, run.TrellisWritesPerChild,
		run.PassesPerInstance, run.WaitingLevels, run.Levels)
	return run, nil
}

func (r *runner) graphFloor(ctx context.Context, w graphWorkload, n int, run *GraphRun) error {
	ns := fmt.Sprintf("bench-graph-floor-%s-%d", w.name, n)
	r.logf("graph %s floor N=%d (namespace %s, concurrency %d)", w.name, n, ns, r.o.Concurrency)
	if err := r.namespace(ctx, ns); err != nil {
		return err
	}
	defer r.dropNamespace(ctx, ns)
	tr, err := newGraphTracker(ctx, r.dyn, ns, floorGraphGVR, w.activeField)
	if err != nil {
		return err
	}
	defer tr.stop()
	wctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	if err := r.floorWarmup(ctx); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	before, err := r.scrape(ctx)
	if err != nil {
		return err
	}
	m0, _ := ReadCPUTimes()
	fc := &graphFloorClient{dyn: r.dyn, ns: ns}
	start := time.Now()
	create := func(ctx context.Context, name string) error { return w.floor(ctx, fc, name) }
	if err := forEach(wctx, instanceNames(n), r.o.Concurrency, create); err != nil {
		return err
	}
	done, err := tr.wait(wctx, w.name+" floor ACTIVE", r.logf, func(c counts) bool { return c.Active == n })
	if err != nil {
		return err
	}
	run.FloorSeconds = round(done.Sub(start).Seconds(), 2)
	m1, _ := ReadCPUTimes()
	run.FloorBusyCores = round(BusyCores(m0, m1, runtime.NumCPU()), 2)
	time.Sleep(r.o.Settle)
	after, err := r.scrape(ctx)
	if err != nil {
		return err
	}
	writes := after.Sub(before).Mutating().Resources(GraphResources...)
	run.FloorWrites, run.FloorBreakdown = writes.Total(), writes.Breakdown()
	r.logf("graph %s floor N=%d: %.2fs, %.0f writes", w.name, n, run.FloorSeconds, run.FloorWrites)
	return nil
}

func (r *runner) graphTrellis(ctx context.Context, w graphWorkload, n int, run *GraphRun) error {
	ns := fmt.Sprintf("bench-graph-trellis-%s-%d", w.name, n)
	r.logf("graph %s trellis N=%d workers=%d (namespace %s)", w.name, n, r.o.Workers, ns)
	logPath := filepath.Join(r.o.LogDir, fmt.Sprintf("controller-graph-%s-%d.log", w.name, n))
	c, err := r.o.Controller(ctx, r.cluster.Kubeconfig, r.o.Workers, logPath)
	if err != nil {
		return err
	}
	defer c.Stop()
	if _, err := r.dyn.Resource(rgdGVR).Apply(ctx, w.rgd.GetName(), w.rgd, metav1.ApplyOptions{FieldManager: "trellis-bench", Force: true}); err != nil {
		return fmt.Errorf("apply RGD %s: %w", w.rgd.GetName(), err)
	}
	if err := waitCRD(ctx, r.ext, w.gvr.Resource+"."+w.gvr.Group); err != nil {
		return fmt.Errorf("%s CRD not established: %w (controller log: %s)", w.kind, err, logPath)
	}
	if err := r.graphWarmup(ctx, w); err != nil {
		return fmt.Errorf("warm-up: %w (controller log: %s)", err, logPath)
	}
	if err := r.namespace(ctx, ns); err != nil {
		return err
	}
	// Deferred after c.Stop, so it runs first: the controller releases the
	// instances' finalizers while the namespace goes.
	defer r.dropNamespace(ctx, ns)
	tr, err := newGraphTracker(ctx, r.dyn, ns, w.gvr, w.activeField)
	if err != nil {
		return err
	}
	defer tr.stop()
	wctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()

	before, err := r.scrape(ctx)
	if err != nil {
		return err
	}
	rec0, hasRec := reconcilesOf(ctx, c, w.gvr.Resource)
	q0, hasQ := controllerQueue(ctx, c)
	cpu0, hasCPU := processCPU(c)
	m0, _ := ReadCPUTimes()
	start := time.Now()
	create := func(ctx context.Context, name string) error {
		_, err := r.dyn.Resource(w.gvr).Namespace(ns).Create(ctx, graphInstance(w.gvr.GroupVersion(), w.kind, ns, name, w.items), metav1.CreateOptions{})
		return err
	}
	if err := forEach(wctx, instanceNames(n), r.o.Concurrency, create); err != nil {
		return err
	}
	done, err := tr.wait(wctx, w.name+" instances ACTIVE", r.logf, func(c counts) bool { return c.Active == n })
	if err != nil {
		return fmt.Errorf("%w (controller log: %s)", err, logPath)
	}
	run.TrellisSeconds = round(done.Sub(start).Seconds(), 2)
	m1, _ := ReadCPUTimes()
	run.TrellisBusyCores = round(BusyCores(m0, m1, runtime.NumCPU()), 2)
	if cpu1, ok := processCPU(c); ok && hasCPU {
		run.ControllerCPU = round(cpu1-cpu0, 2)
	}
	// Passes queued behind the last ACTIVE count too.
	if quiet, ok := waitQuiet(ctx, c, quietLimit); ok {
		run.QuietSeconds = round(quiet.Sub(start).Seconds(), 2)
	}
	if q1, ok := controllerQueue(ctx, c); ok && hasQ {
		run.Queue = NewQueue(q1.Sub(q0), n)
	}
	if rec1, ok := reconcilesOf(ctx, c, w.gvr.Resource); ok && hasRec {
		run.PassesPerInstance = round(perInstance(rec1-rec0, n), 2)
	}
	time.Sleep(r.o.Settle)
	after, err := r.scrape(ctx)
	if err != nil {
		return err
	}
	writes := after.Sub(before).Mutating().Resources(GraphResources...)
	run.TrellisWrites, run.TrellisBreakdown = writes.Total(), writes.Breakdown()
	r.logf("graph %s trellis N=%d: all ACTIVE after %.2fs, %.0f writes: %s", w.name, n, run.TrellisSeconds, run.TrellisWrites, summary(run.TrellisBreakdown, n))
	return nil
}

// graphWarmup brings one instance of the graph to ACTIVE and deletes it,
// so the controller has its informers running before the measured phase.
func (r *runner) graphWarmup(ctx context.Context, w graphWorkload) error {
	ns, err := r.warmupNamespace(ctx)
	if err != nil {
		return err
	}
	r.waitAdmissionBindingOf(ctx, w.rgd.GetName())
	tr, err := newGraphTracker(ctx, r.dyn, ns, w.gvr, w.activeField)
	if err != nil {
		return err
	}
	defer tr.stop()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	api := r.dyn.Resource(w.gvr).Namespace(ns)
	name := "warmup-" + w.name
	err = wait.PollUntilContextTimeout(wctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := api.Create(ctx, graphInstance(w.gvr.GroupVersion(), w.kind, ns, name, w.items), metav1.CreateOptions{})
		return err == nil, nil // the kind may not be served yet
	})
	if err != nil {
		return fmt.Errorf("create warm-up instance: %w", err)
	}
	if _, err := tr.wait(wctx, "warm-up ACTIVE", r.logf, func(c counts) bool { return c.Active == 1 }); err != nil {
		return err
	}
	if err := api.Delete(wctx, name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	_, err = tr.wait(wctx, "warm-up gone", r.logf, func(c counts) bool { return c.Instances == 0 })
	return err
}

// graphTargets judges issue 18's goal: one pass per waiting level (at
// least one pass), never one per resource.
func graphTargets(runs []GraphRun) []Target {
	var out []Target
	for _, g := range runs {
		if g.PassesPerInstance < 0 {
			continue
		}
		goal := float64(max(g.WaitingLevels, 1))
		out = append(out, Target{Name: fmt.Sprintf("passes per %s instance (%d children, levels: %d, waiting on the API server: %d) at N=%d", g.Kind, g.ChildrenPerInstance, g.Levels, g.WaitingLevels, g.N),
			Goal: fmt.Sprintf("<= %.0f", goal), Value: g.PassesPerInstance, Met: g.PassesPerInstance <= goal})
	}
	return out
}

// graphsMarkdown renders the graph phase.
func graphsMarkdown(runs []GraphRun) string {
	if len(runs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nBig graphs (issue 18): time to all ACTIVE against a floor creating the same objects level by level; writes per child (instance and status writes included); the controller's passes (instance reconciles) per instance against the levels that wait on a field the API server assigns:\n\n")
	b.WriteString("| graph | N | children (per inst / all) | floor s | trellis s | trellis/floor | writes/child floor / trellis | passes/inst | waiting levels / levels | ctrl CPU s | busy cores floor / trellis |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, g := range runs {
		passes := "–"
		if g.PassesPerInstance >= 0 {
			passes = fmt.Sprintf("**%.2f**", g.PassesPerInstance)
		}
		fmt.Fprintf(&b, "| %s (%s) | %d | %d / %d | %.1f | %.1f | **%.2f×** | %.3f / **%.3f** | %s | %d / %d | %.1f | %.2f / %.2f |\n",
			g.Graph, g.Kind, g.N, g.ChildrenPerInstance, g.N*g.ChildrenPerInstance, g.FloorSeconds, g.TrellisSeconds, g.Ratio,
			g.FloorWritesPerChild, g.TrellisWritesPerChild, passes, g.WaitingLevels, g.Levels, g.ControllerCPU, g.FloorBusyCores, g.TrellisBusyCores)
	}
	for _, g := range runs {
		fmt.Fprintf(&b, "\nWrites per instance, %s graph N=%d (floor / trellis):\n\n| resource | verb | code | floor | trellis |\n|---|---|---|---:|---:|\n", g.Graph, g.N)
		b.WriteString(sideBySide(g.FloorBreakdown, g.TrellisBreakdown, g.N))
	}
	return b.String()
}

// sideBySide puts two breakdowns in one table, per instance.
func sideBySide(floor, trellis []Line, n int) string {
	type key struct{ res, verb, code string }
	var order []key
	vals := map[key][2]float64{}
	for i, lines := range [][]Line{floor, trellis} {
		for _, l := range lines {
			k := key{l.Resource, l.Verb, l.Code}
			v, seen := vals[k]
			if !seen {
				order = append(order, k)
			}
			v[i] += l.Count
			vals[k] = v
		}
	}
	var b strings.Builder
	for _, k := range order {
		v := vals[k]
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %.2f |\n", k.res, k.verb, k.code, perInstance(v[0], n), perInstance(v[1], n))
	}
	return b.String()
}
