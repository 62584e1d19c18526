package graph

import (
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/api/v1alpha1"
)

// fuzzRGDs seed FuzzBuild: the shapes kro users write, cycles, collections,
// external references, conditions, status projections and kro's crashers.
var fuzzRGDs = []string{
	`spec:
  schema: {apiVersion: v1alpha1, kind: App, spec: {name: string, n: "integer | default=1"}, status: {cm: "${cm.metadata.name}"}}
  resources:
  - id: cm
    readyWhen: ["${cm.data.a == 'x'}"]
    includeWhen: ["${schema.spec.n > 0}"]
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.spec.name}"}, data: {a: "x-${schema.spec.name}"}}`,
	// a cycle
	`spec:
  schema: {apiVersion: v1alpha1, kind: Cyc}
  resources:
  - id: a
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${b.metadata.name}"}}
  - id: b
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${a.metadata.name}"}}`,
	// a self-reference
	`spec:
  schema: {apiVersion: v1alpha1, kind: Self}
  resources:
  - id: a
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${a.metadata.name}"}}`,
	// a collection
	`spec:
  schema: {apiVersion: v1alpha1, kind: Coll, spec: {names: "[]string"}}
  resources:
  - id: cms
    forEach: [{n: "${schema.spec.names}"}]
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${n}"}}
  - id: last
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${string(size(cms))}"}}`,
	// an external reference
	`spec:
  schema: {apiVersion: v1alpha1, kind: Ext}
  resources:
  - id: ext
    externalRef: {apiVersion: v1, kind: ConfigMap, metadata: {name: shared}}
  - id: cm
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}, data: {v: "${ext.data.v}"}}`,
	// kro#858: a list of a custom type; kro#878: an empty spec
	`spec:
  schema:
    apiVersion: v1alpha1
    kind: Ports
    types: {Port: {name: string, port: integer}}
    spec: {ports: "[]Port"}
  resources:
  - id: cm
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}, data: {p: "${string(schema.spec.ports.map(p, p.port))}"}}`,
	`spec: {}`,
	`spec: {schema: {apiVersion: v1alpha1, kind: Empty}}`,
	// an open CRD schema
	`spec:
  schema: {apiVersion: v1alpha1, kind: Open, spec: {v: object}}
  resources:
  - id: u
    template: {apiVersion: kro.run/v1alpha1, kind: AllowUnknown, metadata: {name: x}, spec: {config: "${schema.spec.v}"}}`,
}

// FuzzBuild builds arbitrary RGDs against ConfigMap and an open CRD.
// Invariants: no panic; a rejection lists problems that each name a
// resource or a field; a built graph orders every resource after its
// dependencies and carries the instance CRD.
func FuzzBuild(f *testing.F) {
	for _, s := range fuzzRGDs {
		f.Add(s)
	}
	resolver := testResolver(f)
	f.Fuzz(func(t *testing.T, doc string) {
		rgd := &v1alpha1.ResourceGraphDefinition{}
		if yaml.Unmarshal([]byte(doc), rgd) != nil {
			return
		}
		g, err := BuildWithOptions(rgd, resolver, Options{Omit: true})
		if err != nil {
			problems := Problems(err)
			if len(problems) == 0 {
				t.Fatalf("error is not a build error: %T %v", err, err)
			}
			for _, p := range problems {
				if p.Path == "" && p.Resource == "" {
					t.Fatalf("problem names neither a resource nor a field: %v", p)
				}
			}
			return
		}
		if g.CRD == nil {
			t.Fatal("graph without a CRD")
		}
		pos := map[string]int{}
		for i, id := range g.TopologicalOrder() {
			pos[id] = i
		}
		if len(pos) != len(rgd.Spec.Resources) {
			t.Fatalf("order has %d resources, the RGD %d", len(pos), len(rgd.Spec.Resources))
		}
		for _, n := range g.Nodes {
			for _, d := range n.Dependencies {
				if pos[d] >= pos[n.ID] {
					t.Fatalf("%s comes before its dependency %s", n.ID, d)
				}
			}
		}
	})
}
