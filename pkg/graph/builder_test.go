package graph

import (
	"strings"
	"testing"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/cel"
)

// staticResolver serves kinds from CRD schemas written in the test.
type staticResolver map[schema.GroupVersionKind]*Kind

func (r staticResolver) Resolve(gvk schema.GroupVersionKind) (*Kind, error) {
	if k, ok := r[gvk]; ok {
		return k, nil
	}
	return nil, &KindNotFoundError{GVK: gvk}
}

func crdKind(t testing.TB, plural, schemaYAML string, namespaced bool) *Kind {
	t.Helper()
	props := &extv1.JSONSchemaProps{}
	if err := yaml.Unmarshal([]byte(schemaYAML), props); err != nil {
		t.Fatal(err)
	}
	s, err := cel.SchemaFromCRD(props)
	if err != nil {
		t.Fatal(err)
	}
	return &Kind{GVR: schema.GroupVersionResource{Resource: plural}, Namespaced: namespaced, Schema: s}
}

func parseRGD(t *testing.T, doc string) *v1alpha1.ResourceGraphDefinition {
	t.Helper()
	rgd := &v1alpha1.ResourceGraphDefinition{}
	if err := yaml.UnmarshalStrict([]byte(doc), rgd); err != nil {
		t.Fatal(err)
	}
	return rgd
}

const configMapSchema = `
type: object
properties:
  apiVersion: {type: string}
  kind: {type: string}
  metadata: {type: object}
  data: {type: object, additionalProperties: {type: string}}
`

func testResolver(t testing.TB) staticResolver {
	return staticResolver{
		{Version: "v1", Kind: "ConfigMap"}: crdKind(t, "configmaps", configMapSchema, true),
		// A CRD that declares neither apiVersion, kind nor metadata, with an
		// open object (as in kro's check-unknown-fields e2e case).
		{Group: "kro.run", Version: "v1alpha1", Kind: "AllowUnknown"}: crdKind(t, "allowunknowns", `
type: object
properties:
  spec:
    type: object
    properties:
      config: {type: object, x-kubernetes-preserve-unknown-fields: true}
`, true),
	}
}

func TestBuildOpenObjectsAndSparseCRDSchemas(t *testing.T) {
	rgd := parseRGD(t, `
metadata: {name: check-unknown-fields}
spec:
  schema:
    apiVersion: v1alpha1
    kind: AllowUnknownInstance
    spec:
      name: string
      nested: object
  resources:
  - id: example
    template:
      apiVersion: kro.run/v1alpha1
      kind: AllowUnknown
      metadata:
        name: ${schema.spec.name}
      spec:
        config:
          foo: bar
  - id: configmap
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: check-unknown-fields
      data:
        foo: ${example.spec.config.foo}
        name: ${schema.spec.name}
        nested: ${schema.spec.nested.field}
`)
	g, err := Build(rgd, testResolver(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(g.TopologicalOrder(), ","); got != "example,configmap" {
		t.Fatalf("order = %s", got)
	}
	if deps := g.ByID["configmap"].Dependencies; len(deps) != 1 || deps[0] != "example" {
		t.Fatalf("configmap deps = %v", deps)
	}
}

func TestBuildErrorsNameTheCulprit(t *testing.T) {
	cases := map[string]struct{ resources, want string }{
		"unknown field": {`
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: x}
      bogus: 1`, `resource "cm": template.bogus: schema not found`},
		"typo in path": {`
  - id: a
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: x}
  - id: b
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: yy}
      data:
        k: ${a.metadata.nmae}`, `resource "b": template.data.k`},
		"wrong type": {`
  - id: a
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: x}
      data:
        k: ${schema.spec.count}`, `resource "a": template.data.k`},
		"unknown kind": {`
  - id: w
    template:
      apiVersion: example.com/v1
      kind: Widget
      metadata: {name: x}`, "example.com/v1/Widget"},
		"self reference": {`
  - id: a
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: "${a.metadata.name}"}`, "self references are not allowed"},
		"readyWhen on another resource": {`
  - id: a
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: x}
  - id: b
    readyWhen: ["${a.metadata.name == 'x'}"]
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: yy}`, `readyWhen may only reference "b"`},
		"includeWhen not bool": {`
  - id: a
    includeWhen: ["${schema.spec.count}"]
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: x}`, "must return bool"},
		"reserved label prefix": {`
  - id: a
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: x
        labels: {kro.run/owned: "false"}`, "reserved kro.run/ prefix"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rgd := parseRGD(t, `
metadata: {name: bad}
spec:
  schema:
    apiVersion: v1alpha1
    kind: Bad
    spec:
      count: integer | default=1
  resources:`+tc.resources)
			_, err := Build(rgd, testResolver(t))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not contain %q", err, tc.want)
			}
		})
	}
}

func TestBuildReportsMissingKinds(t *testing.T) {
	rgd := parseRGD(t, `
metadata: {name: waits}
spec:
  schema: {apiVersion: v1alpha1, kind: Waits}
  resources:
  - id: a
    template: {apiVersion: example.com/v1, kind: Widget, metadata: {name: x}}
  - id: b
    template: {apiVersion: example.com/v1, kind: Gadget, metadata: {name: yy}}
`)
	_, err := Build(rgd, testResolver(t))
	missing := MissingKinds(err)
	if len(missing) != 2 || missing[0].Kind != "Widget" || missing[1].Kind != "Gadget" {
		t.Fatalf("missing = %v (err %v)", missing, err)
	}
}

func TestHashIgnoresOrderOnlyEdits(t *testing.T) {
	a := parseRGD(t, `
spec:
  schema: {apiVersion: v1alpha1, kind: A}
  resources:
  - id: x
    readyWhen: ["${x.a}", "${x.b}"]
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}
  - id: y
    template: {kind: ConfigMap, apiVersion: v1, metadata: {name: y}}
`)
	b := parseRGD(t, `
spec:
  resources:
  - template: {apiVersion: v1, kind: ConfigMap, metadata: {name: y}}
    id: y
  - id: x
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: x}}
    readyWhen: ["${x.b}", "${x.a}"]
  schema: {kind: A, apiVersion: v1alpha1}
`)
	if Hash(&a.Spec) != Hash(&b.Spec) {
		t.Fatal("reordering changed the hash")
	}
	b.Spec.Resources[0].Template.Raw = []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"z"}}`)
	if Hash(&a.Spec) == Hash(&b.Spec) {
		t.Fatal("a real change kept the hash")
	}
}
