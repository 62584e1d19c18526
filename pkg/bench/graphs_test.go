package bench

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/trellis-dev/trellis/pkg/cli"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/graph/resolver/builtin"
)

// buildGraph compiles a generated RGD the way the controller does.
func buildGraph(t *testing.T, rgd *unstructured.Unstructured) *graph.Graph {
	t.Helper()
	doc := &cli.Document{Object: rgd.Object}
	typed, err := doc.RGD()
	if err != nil {
		t.Fatal(err)
	}
	g, err := graph.Build(typed, builtin.New())
	if err != nil {
		t.Fatalf("build %s: %v", rgd.GetName(), err)
	}
	return g
}

func TestDeepGraphHasFortyResourcesInSixLevels(t *testing.T) {
	dg, err := NewDeepGraph(DeepLevels, DeepTotal)
	if err != nil {
		t.Fatal(err)
	}
	g := buildGraph(t, dg.RGD())
	if len(g.Nodes) != 40 {
		t.Fatalf("%d nodes, want 40", len(g.Nodes))
	}
	perLevel := map[int]int{}
	for _, n := range g.Nodes {
		perLevel[n.ApplyOrder]++
	}
	want := map[int]int{1: 7, 2: 7, 3: 7, 4: 7, 5: 6, 6: 6}
	if !reflect.DeepEqual(perLevel, want) {
		t.Errorf("nodes per DAG level = %v, want %v", perLevel, want)
	}
	for _, c := range dg.Children {
		if got := g.ByID[c.ID].ApplyOrder; got != c.Level {
			t.Errorf("%s: DAG level %d, generator level %d", c.ID, got, c.Level)
		}
	}
	// Levels 2, 4 and 6 read a Service's clusterIP.
	if w := dg.WaitingLevels(); w != 3 {
		t.Errorf("waiting levels = %d, want 3", w)
	}
	kinds := map[string]int{}
	for _, n := range g.Nodes {
		kinds[n.GVK.Kind]++
	}
	if kinds["Service"] != 3 || kinds["Secret"] == 0 || kinds["ConfigMap"] == 0 {
		t.Errorf("kinds = %v, want 3 Services and some Secrets and ConfigMaps", kinds)
	}
	if g.Status == nil {
		t.Error("no status projection")
	}
}

func TestNewDeepGraphRejectsTooFewChildren(t *testing.T) {
	if _, err := NewDeepGraph(6, 5); err == nil {
		t.Error("5 children in 6 levels accepted")
	}
}

func TestFanoutGraphBuilds(t *testing.T) {
	g := buildGraph(t, FanoutGraph{Items: FanoutItems}.RGD())
	if len(g.Nodes) != 1 || len(g.Nodes[0].ForEach) != 1 {
		t.Fatalf("want one forEach node, got %d nodes", len(g.Nodes))
	}
	if g.Status == nil {
		t.Error("no status projection")
	}
}

// comparable keeps what the floor and trellis must agree on: kind, name,
// content and the generator's annotations (not trellis's labels and hash).
func comparable(u *unstructured.Unstructured) map[string]any {
	out := map[string]any{"kind": u.GetKind(), "name": u.GetName()}
	for _, f := range []string{"data", "stringData", "spec"} {
		if v, ok := u.Object[f]; ok {
			out[f] = v
		}
	}
	ann := map[string]string{}
	for k, v := range u.GetAnnotations() {
		if strings.HasPrefix(k, inputAnnPrefix) {
			ann[k] = v
		}
	}
	out["annotations"] = ann
	return out
}

// renderOne renders one instance with the CLI's offline renderer.
func renderOne(t *testing.T, rgd *unstructured.Unstructured, inst *unstructured.Unstructured, observed []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	g := buildGraph(t, rgd)
	prepared, problems, err := cli.PrepareInstance(g, inst, "")
	if err != nil || len(problems) > 0 {
		t.Fatalf("prepare instance: %v %v", err, problems)
	}
	res := cli.Render(g, prepared, cli.RenderOptions{Observed: observed})
	out := map[string]*unstructured.Unstructured{}
	for _, n := range res.Nodes {
		if n.State != "rendered" {
			t.Fatalf("%s: %s (%s)", n.Node.ID, n.State, n.Reason)
		}
		for _, o := range n.Objects {
			out[o.Object.GetName()] = o.Object
		}
	}
	return out
}

func TestDeepFloorCreatesWhatTrellisRenders(t *testing.T) {
	dg, err := NewDeepGraph(DeepLevels, DeepTotal)
	if err != nil {
		t.Fatal(err)
	}
	const ns, name = "bench", "app-00000"
	// The floor, its create responses simulated: a Service comes back with
	// the clusterIP the API server assigned.
	created := map[string]*unstructured.Unstructured{}
	var floor, observed []*unstructured.Unstructured
	for _, level := range dg.byLevel() {
		objs, err := deepLevel(level, name, created)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range level {
			resp := objs[i].DeepCopy()
			resp.SetNamespace(ns)
			if c.Kind == "Service" {
				if err := unstructured.SetNestedField(resp.Object, fmt.Sprintf("10.0.0.%d", c.Level), "spec", "clusterIP"); err != nil {
					t.Fatal(err)
				}
				observed = append(observed, resp)
			}
			created[c.ID] = resp
		}
		floor = append(floor, objs...)
	}
	inst := graphInstance(deepGVR.GroupVersion(), deepKind, ns, name, nil)
	rendered := renderOne(t, dg.RGD(), inst, observed)
	if len(floor) != DeepTotal || len(rendered) != DeepTotal {
		t.Fatalf("floor %d objects, render %d, want %d each", len(floor), len(rendered), DeepTotal)
	}
	sawIP := false
	for _, f := range floor {
		r := rendered[f.GetName()]
		if r == nil {
			t.Errorf("%s: the floor creates it, render does not", f.GetName())
			continue
		}
		if got, want := comparable(f), comparable(r); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n floor  %v\n render %v", f.GetName(), got, want)
		}
		if v, _, _ := unstructured.NestedString(f.Object, "data", "in0"); strings.HasPrefix(v, "10.0.0.") {
			sawIP = true
		}
	}
	if !sawIP {
		t.Error("no floor ConfigMap carries a Service's clusterIP")
	}
}

func TestFanoutFloorCreatesWhatTrellisRenders(t *testing.T) {
	fg := FanoutGraph{Items: FanoutItems}
	const name = "app-00001"
	inst := graphInstance(fanoutGVR.GroupVersion(), fanoutKind, "bench", name, fg.ItemNames())
	rendered := renderOne(t, fg.RGD(), inst, nil)
	floor := fanoutObjects(fg, name)
	if len(floor) != FanoutItems || len(rendered) != FanoutItems {
		t.Fatalf("floor %d objects, render %d, want %d each", len(floor), len(rendered), FanoutItems)
	}
	for _, f := range floor {
		r := rendered[f.GetName()]
		if r == nil {
			t.Errorf("%s: the floor creates it, render does not", f.GetName())
			continue
		}
		if got, want := comparable(f), comparable(r); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n floor  %v\n render %v", f.GetName(), got, want)
		}
	}
}

func TestGraphTargetsAndMarkdown(t *testing.T) {
	runs := []GraphRun{
		{Graph: "deep", Kind: deepKind, N: 50, ChildrenPerInstance: 40, Levels: 6, WaitingLevels: 3, PassesPerInstance: 2,
			FloorBreakdown:   []Line{{Resource: "configmaps", Verb: "POST", Code: "201", Count: 1500}},
			TrellisBreakdown: []Line{{Resource: "configmaps", Verb: "APPLY", Code: "200", Count: 1500}}},
		{Graph: "fanout", Kind: fanoutKind, N: 10, ChildrenPerInstance: 200, Levels: 1, PassesPerInstance: 3},
		{Graph: "fanout", Kind: fanoutKind, N: 10, PassesPerInstance: -1},
	}
	targets := graphTargets(runs)
	if len(targets) != 2 {
		t.Fatalf("%d targets, want 2 (no target without the controller's metrics)", len(targets))
	}
	if !targets[0].Met || targets[0].Goal != "<= 3" {
		t.Errorf("deep: 2 passes for 3 waiting levels: %+v", targets[0])
	}
	if targets[1].Met || targets[1].Goal != "<= 1" {
		t.Errorf("fanout: 3 passes without a waiting level: %+v", targets[1])
	}
	md := graphsMarkdown(runs)
	for _, want := range []string{"| deep (DeepApp) | 50 | 40 / 2000 |", "| configmaps | POST | 201 | 30.00 | 0.00 |", "| configmaps | APPLY | 200 | 0.00 | 30.00 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
