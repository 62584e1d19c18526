package runtime_test

import (
	"errors"
	"strings"
	"testing"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/cel"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/runtime"
)

type resolver struct{ t *testing.T }

func (r resolver) Resolve(gvk schema.GroupVersionKind) (*graph.Kind, error) {
	if gvk.Kind != "ConfigMap" {
		return nil, &graph.KindNotFoundError{GVK: gvk}
	}
	props := &extv1.JSONSchemaProps{}
	_ = yaml.Unmarshal([]byte(`
type: object
properties:
  metadata: {type: object}
  data: {type: object, additionalProperties: {type: string}}
`), props)
	s, err := cel.SchemaFromCRD(props)
	if err != nil {
		r.t.Fatal(err)
	}
	return &graph.Kind{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Namespaced: true, Schema: s}, nil
}

func build(t *testing.T, doc string, opts graph.Options) *graph.Graph {
	t.Helper()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := yaml.UnmarshalStrict([]byte(doc), rgd); err != nil {
		t.Fatal(err)
	}
	g, err := graph.BuildWithOptions(rgd, resolver{t}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func instance(spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "Pair",
		"metadata": map[string]any{"name": "p", "namespace": "ns", "uid": "u-1"},
		"spec":     spec,
	}}
}

const pairRGD = `
metadata: {name: pair}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Pair
    spec:
      enabled: boolean | default=true
      note: string | default=""
    status:
      first: ${first.data.v}
      second: ${second.data.from}
  resources:
  - id: first
    includeWhen: ["${schema.spec.enabled}"]
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-first"}
      data:
        v: one
        note: '${schema.spec.note != "" ? schema.spec.note : omit()}'
  - id: second
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.metadata.name}-second"}
      data:
        from: ${first.data.v}
`

func TestWalkRendersDependentsFromObservedState(t *testing.T) {
	g := build(t, pairRGD, graph.Options{Omit: true})
	rt := runtime.New(g, instance(map[string]any{"enabled": true, "note": ""}), runtime.ChildLabels(instance(nil), "v1", runtime.ChildLabelsLean))
	batch := rt.Next()
	if len(batch) != 1 || batch[0].ID != "first" {
		t.Fatalf("first batch = %v", batch)
	}
	ok, err := rt.Included(batch[0])
	if err != nil || !ok {
		t.Fatalf("included = %v, %v", ok, err)
	}
	first, err := rt.Render(batch[0])
	if err != nil {
		t.Fatal(err)
	}
	if _, has := first.Object["data"].(map[string]any)["note"]; has {
		t.Errorf("omit() left the field in: %v", first.Object["data"])
	}
	if first.GetNamespace() != "ns" || first.GetLabels()[runtime.LabelNodeID] != "first" || first.GetLabels()[runtime.LabelInstanceID] != "u-1" {
		t.Errorf("namespace/labels not set: %v %v", first.GetNamespace(), first.GetLabels())
	}
	// Before "first" is observed, "second" cannot render.
	if _, err := rt.Render(g.ByID["second"]); !errors.Is(err, runtime.ErrPending) {
		t.Fatalf("second rendered before first was observed: %v", err)
	}
	rt.Observe("first", first)
	rt.Set("first", runtime.StateReady, "")
	batch = rt.Next()
	if len(batch) != 1 || batch[0].ID != "second" {
		t.Fatalf("second batch = %v", batch)
	}
	second, err := rt.Render(batch[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := second.Object["data"].(map[string]any)["from"]; got != "one" {
		t.Errorf("second.data.from = %v", got)
	}
	rt.Observe("second", second)
	status, err := rt.ProjectStatus()
	if err != nil || status["first"] != "one" || status["second"] != "one" {
		t.Fatalf("status = %v, %v", status, err)
	}
}

func TestExcludedNodesAreContagiousAndStatusOmitsWhatIsMissing(t *testing.T) {
	g := build(t, pairRGD, graph.Options{Omit: true})
	rt := runtime.New(g, instance(map[string]any{"enabled": false}), nil)
	n := rt.Next()[0]
	if ok, err := rt.Included(n); err != nil || ok {
		t.Fatalf("included = %v, %v", ok, err)
	}
	rt.Set(n.ID, runtime.StateSkipped, "includeWhen is false")
	if next := rt.Next(); len(next) != 0 {
		t.Fatalf("dependent of a skipped node offered: %v", next)
	}
	if st := rt.Status("second"); st.State != runtime.StateSkipped {
		t.Fatalf("second = %+v, want skipped", st)
	}
	status, err := rt.ProjectStatus()
	if err != nil || len(status) != 0 {
		t.Fatalf("status = %v, %v; want nothing projected", status, err)
	}
}

func TestOmitNeedsTheFeatureGate(t *testing.T) {
	rgd := &v1alpha1.ResourceGraphDefinition{}
	_ = yaml.UnmarshalStrict([]byte(pairRGD), rgd)
	_, err := graph.Build(rgd, resolver{t})
	if err == nil || !strings.Contains(err.Error(), "omit") {
		t.Fatalf("omit() accepted without the gate: %v", err)
	}
}

func TestCollectionsExpandAsCartesianProducts(t *testing.T) {
	g := build(t, `
metadata: {name: grid}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Grid
    spec:
      rows: "[]string"
      cols: "[]integer"
  resources:
  - id: cells
    forEach:
    - row: ${schema.spec.rows}
    - col: ${schema.spec.cols}
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "cell-${row}-${string(col)}"}
`, graph.Options{})
	rt := runtime.New(g, instance(map[string]any{"rows": []any{"a", "b"}, "cols": []any{int64(1), int64(2), int64(3)}}), nil)
	items, err := rt.Expand(g.ByID["cells"])
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		obj, err := rt.RenderItem(g.ByID["cells"], it, len(items))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, obj.GetName())
		if obj.GetLabels()[runtime.LabelCollectionSize] != "6" {
			t.Errorf("%s: size label %q", obj.GetName(), obj.GetLabels()[runtime.LabelCollectionSize])
		}
	}
	if got := strings.Join(names, ","); got != "cell-a-1,cell-a-2,cell-a-3,cell-b-1,cell-b-2,cell-b-3" {
		t.Fatalf("items = %s", got)
	}
}
