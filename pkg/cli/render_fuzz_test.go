package cli

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/graph/resolver/builtin"
)

// fuzzRenderRGD exercises the value shapes that crashed kro: a list of a
// custom type that may be absent (kro#858), CEL format (kro#842), uint and
// bytes values, optional fields, a collection and status projections.
const fuzzRenderRGD = `
metadata: {name: fuzz}
spec:
  schema:
    apiVersion: v1alpha1
    kind: FuzzApp
    types:
      Port: {name: "string | required=true", port: "integer | default=80 minimum=1 maximum=65535"}
    spec:
      name: string | default=app
      replicas: integer | default=1 minimum=0
      ratio: float | default=0.5
      enabled: boolean | default=true
      ports: "[]Port"
      tags: "map[string]string"
      values: object
      env: string | enum="dev,prod" default=dev
    status:
      ports: ${cm.data.ports}
      count: ${size(cms)}
  resources:
  - id: cm
    includeWhen: ["${schema.spec.enabled}"]
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.spec.name}
        labels: ${schema.spec.tags}
      data:
        ports: ${schema.spec.ports.map(p, '%s:%d'.format([p.name, p.port])).join(',')}
        replicas: ${string(uint(schema.spec.replicas))}
        bytes: ${string(bytes(schema.spec.name))}
        ratio: ${'%.2f'.format([schema.spec.ratio])}
        first: ${schema.spec.?ports[0].name.orValue('none')}
        values: ${string(schema.spec.values)}
        env: ${schema.spec.env}
  - id: cms
    forEach: [{p: "${schema.spec.ports}"}]
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${schema.spec.name + '-' + p.name}"}
      data: {port: "${string(p.port)}"}
`

// FuzzRender prepares (prunes, defaults, validates) arbitrary instance specs
// of one RGD the way the API server would, then renders what the API server
// would admit the way the instance controller does. Invariants: no panic;
// every schema problem names its field; a resource in error says why.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"name":"a","ports":[{"name":"http"}]}`, `{"ports":[]}`, `{"ports":null}`,
		`{"ports":[{"port":8080}]}`, `{"replicas":-1}`, `{"replicas":9223372036854775807}`, `{"replicas":1e30}`,
		`{"ratio":1e308,"tags":{"a":"b"},"values":{"x":[1,{"y":null}]}}`, `{"enabled":false}`,
		`{"env":"staging"}`, `{"name":""}`, `{"name":"UPPER_case"}`, `{"bogus":1}`, `[]`, `"x"`, `null`,
	} {
		f.Add(s)
	}
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := yaml.UnmarshalStrict([]byte(fuzzRenderRGD), rgd); err != nil {
		f.Fatal(err)
	}
	g, err := graph.Build(rgd, builtin.New())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		// Numbers decode as the API server decodes them (int64 when whole).
		raw, err := yaml.YAMLToJSON([]byte(spec))
		if err != nil {
			return
		}
		var v any
		if utiljson.Unmarshal(raw, &v) != nil {
			return
		}
		inst := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "kro.run/v1alpha1", "kind": "FuzzApp",
			"metadata": map[string]any{"name": "i", "uid": "u-1"},
			"spec":     v,
		}}
		prepared, problems, err := PrepareInstance(g, inst, "ns")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			if !strings.HasPrefix(p, "spec") {
				t.Fatalf("problem names no field under spec: %q", p)
			}
		}
		if len(problems) > 0 {
			return // the API server would reject the instance
		}
		res := Render(g, prepared, RenderOptions{})
		for _, n := range res.Nodes {
			if n.State == "error" && n.Reason == "" {
				t.Fatalf("resource %s in error without a reason", n.Node.ID)
			}
		}
	})
}
