// The big-graph workloads of issue 18, generated in Go: one description of
// each graph renders both the RGD trellis runs and the objects the floor
// creates, so the two cannot drift apart.

package bench

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// graphInput is one value a child copies from a child of the previous
// level: the field at Path of the child From.
type graphInput struct {
	From string
	Path []string
}

// graphChild is one resource of a generated graph.
type graphChild struct {
	ID     string
	Kind   string // ConfigMap, Secret or Service
	Level  int    // 1-based dependency level
	Inputs []graphInput
}

// DeepGraph is an RGD of Total children in Levels dependency levels: every
// child of level L > 1 reads a value of a child of level L-1, and the levels
// after a level holding a Service also read that Service's spec.clusterIP,
// which only the API server assigns.
type DeepGraph struct {
	Levels, Total int
	Children      []graphChild
}

// Deep kinds and names.
const (
	deepKind       = "DeepApp"
	fanoutKind     = "FanoutApp"
	inputAnnPrefix = "bench.trellis.dev/"
	// serviceLevelEvery puts a Service in levels 1, 3, 5, …: the levels
	// after them wait on its clusterIP.
	serviceLevelEvery = 2
)

var (
	deepGVR   = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "deepapps"}
	fanoutGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "fanoutapps"}
)

// NewDeepGraph spreads total children over levels (the first levels take
// the remainder: 40 over 6 is 7,7,7,7,6,6).
func NewDeepGraph(levels, total int) (*DeepGraph, error) {
	if levels < 2 || total < levels {
		return nil, fmt.Errorf("deep graph: want at least 2 levels and a child per level, got %d levels, %d children", levels, total)
	}
	g := &DeepGraph{Levels: levels, Total: total}
	var prev []graphChild
	for l := 1; l <= levels; l++ {
		size := total / levels
		if l <= total%levels {
			size++
		}
		var level []graphChild
		for j := 0; j < size; j++ {
			c := graphChild{ID: fmt.Sprintf("l%dr%d", l, j), Level: l, Kind: "ConfigMap"}
			switch {
			case j == 0 && (l-1)%serviceLevelEvery == 0 && l < levels:
				c.Kind = "Service"
			case j%3 == 2:
				c.Kind = "Secret"
			}
			if len(prev) > 0 {
				src := prev[j%len(prev)]
				c.Inputs = append(c.Inputs, graphInput{From: src.ID, Path: outputPath(src.Kind)})
				if prev[0].Kind == "Service" && src.ID != prev[0].ID {
					c.Inputs = append(c.Inputs, graphInput{From: prev[0].ID, Path: outputPath("Service")})
				}
			}
			level = append(level, c)
		}
		g.Children = append(g.Children, level...)
		prev = level
	}
	return g, nil
}

// outputPath is the field of a child its dependents read: a ConfigMap's
// own data value, a Secret's name (its data is base64 once stored), a
// Service's clusterIP (assigned by the API server).
func outputPath(kind string) []string {
	switch kind {
	case "Service":
		return []string{"spec", "clusterIP"}
	case "Secret":
		return []string{"metadata", "name"}
	}
	return []string{"data", "self"}
}

// WaitingLevels counts the levels that read a field only the API server
// assigns: a controller must observe a child of the previous level first.
func (g *DeepGraph) WaitingLevels() int {
	kinds := map[string]string{}
	waiting := map[int]bool{}
	for _, c := range g.Children {
		kinds[c.ID] = c.Kind
		for _, in := range c.Inputs {
			if kinds[in.From] == "Service" {
				waiting[c.Level] = true
			}
		}
	}
	return len(waiting)
}

// byLevel groups the children by level, in order.
func (g *DeepGraph) byLevel() [][]graphChild {
	out := make([][]graphChild, g.Levels)
	for _, c := range g.Children {
		out[c.Level-1] = append(out[c.Level-1], c)
	}
	return out
}

// lastID is the child whose value the status projects.
func (g *DeepGraph) lastID() string { return fmt.Sprintf("l%dr0", g.Levels) }

// renderChild builds child c of instance name; value returns each input's
// value (a CEL expression for the RGD, the real value for the floor).
func renderChild(c graphChild, name string, value func(graphInput) string) map[string]any {
	inputs := map[string]any{}
	for i, in := range c.Inputs {
		inputs[fmt.Sprintf("in%d", i)] = value(in)
	}
	self := name + "-" + c.ID
	obj := map[string]any{"apiVersion": "v1", "kind": c.Kind, "metadata": map[string]any{"name": self}}
	switch c.Kind {
	case "ConfigMap":
		inputs["self"] = self
		obj["data"] = inputs
	case "Secret":
		inputs["self"] = self
		obj["stringData"] = inputs
	case "Service":
		if len(inputs) > 0 {
			ann := map[string]any{}
			for k, v := range inputs {
				ann[inputAnnPrefix+k] = v
			}
			obj["metadata"].(map[string]any)["annotations"] = ann
		}
		obj["spec"] = map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}
	}
	return obj
}

// RGD renders the graph as a ResourceGraphDefinition of kind DeepApp.
func (g *DeepGraph) RGD() *unstructured.Unstructured {
	var resources []any
	for _, c := range g.Children {
		tmpl := renderChild(c, "${schema.spec.name}", func(in graphInput) string {
			return "${" + in.From + "." + strings.Join(in.Path, ".") + "}"
		})
		resources = append(resources, map[string]any{"id": c.ID, "template": tmpl})
	}
	return graphRGD(deepGVR, deepKind, map[string]any{"name": "string"},
		map[string]any{"last": "${" + g.lastID() + ".data.self}"}, resources)
}

func graphRGD(gvr schema.GroupVersionResource, kind string, spec, status map[string]any, resources []any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": rgdGVR.GroupVersion().String(), "kind": "ResourceGraphDefinition",
		"metadata": map[string]any{"name": gvr.Resource + "." + gvr.Group},
		"spec": map[string]any{
			"schema":    map[string]any{"apiVersion": gvr.Version, "kind": kind, "spec": spec, "status": status},
			"resources": resources,
		},
	}}
}

// FanoutGraph is an RGD with one forEach collection of ConfigMaps, one per
// entry of the instance's spec.items.
type FanoutGraph struct{ Items int }

// ItemNames are the entries every instance lists.
func (f FanoutGraph) ItemNames() []string {
	out := make([]string, f.Items)
	for i := range out {
		out[i] = fmt.Sprintf("i%03d", i)
	}
	return out
}

// fanoutChild builds the ConfigMap of one entry.
func fanoutChild(name, entry string) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": name + "-" + entry},
		"data":     map[string]any{"entry": entry, "owner": name}}
}

// RGD renders the collection as a ResourceGraphDefinition of kind FanoutApp.
func (f FanoutGraph) RGD() *unstructured.Unstructured {
	tmpl := fanoutChild("${schema.spec.name}", "${entry}")
	res := map[string]any{"id": "fanout", "forEach": []any{map[string]any{"entry": "${schema.spec.items}"}}, "template": tmpl}
	return graphRGD(fanoutGVR, fanoutKind, map[string]any{"name": "string", "items": "[]string"},
		map[string]any{"count": "${size(fanout)}"}, []any{res})
}

// graphInstance is an instance of kind (a DeepApp, FanoutApp or the floor's
// FloorGraph) named name, listing items when there are any.
func graphInstance(gv schema.GroupVersion, kind, ns, name string, items []string) *unstructured.Unstructured {
	spec := map[string]any{"name": name}
	if len(items) > 0 {
		list := make([]any, len(items))
		for i, it := range items {
			list[i] = it
		}
		spec["items"] = list
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": gv.String(), "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     spec,
	}}
}
