package crd

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/simpleschema"
)

func generic(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// subset reports where want is not contained in got, with chainsaw-like
// semantics: maps match key by key, lists element by element (same length).
func subset(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want map, got %T", path, got)}
		}
		var out []string
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			out = append(out, subset(wv, gv, path+"."+k)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want list of %d, got %v", path, len(w), got)}
		}
		var out []string
		for i := range w {
			out = append(out, subset(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		return nil
	}
}

func loadYAML(t *testing.T, file string) any {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(j, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustSpec(t *testing.T, y string) *apiextv1.JSONSchemaProps {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(y), &m); err != nil {
		t.Fatal(err)
	}
	s, err := simpleschema.ToOpenAPI(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBuildGolden(t *testing.T) {
	tests := []struct {
		golden, kind, spec string
	}{
		{"testdata/golden-simple.yaml", "CheckInstanceCreationSimpleDeployment", "replicas: integer | default=1\nimage: string | default=\"nginx:latest\""},
		{"testdata/golden-arbitrary.yaml", "CheckArbitraryObjectsNoOp", "values: object | required=true"},
	}
	for _, tc := range tests {
		t.Run(tc.golden, func(t *testing.T) {
			got := Build(Input{Group: "kro.run", Version: "v1alpha1", Kind: tc.kind, Spec: mustSpec(t, tc.spec)})
			for _, d := range subset(loadYAML(t, tc.golden), generic(t, got), "") {
				t.Error(d)
			}
		})
	}
}

func TestBuildExact(t *testing.T) {
	got := Build(Input{
		Version: "v1", Kind: "WebApp", Scope: apiextv1.ClusterScoped,
		Spec:       mustSpec(t, "name: string | required=true"),
		ShortNames: []string{"wa"}, Categories: []string{"apps"},
		Labels:      map[string]string{"kro.run/owned": "true"},
		Annotations: map[string]string{"note": "x"},
	})
	want := `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: webapps.kro.run
  labels: {kro.run/owned: "true"}
  annotations: {note: x}
spec:
  group: kro.run
  conversion: {strategy: None}
  names: {kind: WebApp, listKind: WebAppList, plural: webapps, singular: webapp, shortNames: [wa], categories: [apps]}
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: State, type: string, jsonPath: .status.state, description: The state of a ResourceGraphDefinition instance}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: Whether a ResourceGraphDefinition instance is ready}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp, description: Age of the resource}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object}
          spec:
            type: object
            required: [name]
            properties:
              name: {type: string}
          status:
            type: object
            properties:
              graphRevision: {type: integer, description: The graph revision of the ResourceGraphDefinition this instance was last reconciled with}
              state: {type: string}
              conditions:
                type: array
                items:
                  type: object
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
                    message: {type: string}
                    lastTransitionTime: {type: string}
                    observedGeneration: {type: integer}
`
	var wantObj any
	j, err := yaml.YAMLToJSON([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(j, &wantObj)
	g := generic(t, got).(map[string]any)
	delete(g, "status") // server-owned; empty in a built object
	if !reflect.DeepEqual(g, wantObj) {
		gb, _ := yaml.Marshal(g)
		t.Errorf("Build mismatch, got:\n%s", gb)
	}
}

func TestBuildDefaultsAndOverrides(t *testing.T) {
	cols := []apiextv1.CustomResourceColumnDefinition{{Name: "Image", Type: "string", JSONPath: ".spec.image"}}
	status := &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
		"url":   {Type: "string"},
		"state": {Type: "integer"}, // user-defined state wins
	}}
	in := Input{Version: "v1alpha1", Kind: "Policy", Status: status, PrinterColumns: cols}
	got := Build(in)

	if got.Name != "policies.kro.run" || got.Spec.Names.Plural != "policies" {
		t.Errorf("name/plural = %s/%s", got.Name, got.Spec.Names.Plural)
	}
	if got.Spec.Scope != apiextv1.NamespaceScoped {
		t.Errorf("scope = %s", got.Spec.Scope)
	}
	v := got.Spec.Versions[0]
	if !reflect.DeepEqual(v.AdditionalPrinterColumns, cols) {
		t.Errorf("printer columns not replaced: %v", v.AdditionalPrinterColumns)
	}
	sp := v.Schema.OpenAPIV3Schema.Properties["status"].Properties
	if sp["state"].Type != "integer" || sp["url"].Type != "string" || sp["conditions"].Type != "array" {
		t.Errorf("status props = %v", sp)
	}
	if sp := v.Schema.OpenAPIV3Schema.Properties["spec"]; sp.Type != "object" {
		t.Errorf("nil spec should become an object schema, got %v", sp)
	}
	// Build must not alias the caller's inputs.
	if _, ok := status.Properties["conditions"]; ok {
		t.Error("Build mutated the input status schema")
	}
	cols[0].Name = "changed"
	if v.AdditionalPrinterColumns[0].Name != "Image" {
		t.Error("Build aliases the input printer columns")
	}
}

func TestName(t *testing.T) {
	tests := []struct{ kind, group, want string }{
		{"CheckArbitraryObjectsNoOp", "kro.run", "checkarbitraryobjectsnoops.kro.run"},
		{"SimpleDeploymentForDeletion", "kro.run", "simpledeploymentfordeletions.kro.run"},
		{"WebApp", "", "webapps.kro.run"},
		{"Policy", "example.com", "policies.example.com"},
		{"S3Bucket", "kro.run", "s3buckets.kro.run"},
		{"DbWebStack", "kro.run", "dbwebstacks.kro.run"},
		{"Ingress", "x.io", "ingresses.x.io"},
	}
	for _, tc := range tests {
		if got := Name(tc.kind, tc.group); got != tc.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tc.kind, tc.group, got, tc.want)
		}
	}
}

// roundTrip simulates storing the CRD in the apiserver and reading it back:
// JSON re-encoding, apiserver defaults, server-set metadata and status.
func roundTrip(t *testing.T, c *apiextv1.CustomResourceDefinition) *apiextv1.CustomResourceDefinition {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	// Re-indent so raw JSON fields (defaults, enums) differ textually.
	b, err = yaml.JSONToYAML(b)
	if err != nil {
		t.Fatal(err)
	}
	var live apiextv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &live); err != nil {
		t.Fatal(err)
	}
	apiextv1.SetDefaults_CustomResourceDefinition(&live)
	live.Generation = 1
	live.ResourceVersion = "12345"
	live.UID = "uid-1"
	if live.Labels == nil {
		live.Labels = map[string]string{}
	}
	live.Labels["added-by-someone-else"] = "x"
	live.Status.AcceptedNames = live.Spec.Names
	live.Status.Conditions = []apiextv1.CustomResourceDefinitionCondition{{Type: apiextv1.Established, Status: apiextv1.ConditionTrue}}
	for i := range live.Spec.Versions {
		if s := live.Spec.Versions[i].Schema.OpenAPIV3Schema; s != nil {
			spaceDefaults(s)
		}
	}
	return &live
}

// spaceDefaults rewrites raw JSON defaults with extra whitespace.
func spaceDefaults(s *apiextv1.JSONSchemaProps) {
	if s.Default != nil {
		s.Default = &apiextv1.JSON{Raw: []byte(" " + strings.ReplaceAll(string(s.Default.Raw), ",", " , ") + " ")}
	}
	for k, p := range s.Properties {
		spaceDefaults(&p)
		s.Properties[k] = p
	}
	if s.Items != nil && s.Items.Schema != nil {
		spaceDefaults(s.Items.Schema)
	}
}

func richInput(t *testing.T) Input {
	var spec map[string]any
	_ = yaml.Unmarshal([]byte(`
name: string | required=true
port: integer | default=8080 minimum=1
ports: "[]integer | default=[80,443] uniqueItems=true"
env: string | enum="dev,prod" default=dev immutable=true
ratio: float | default=0.5
labels: "map[string]string"
extra: object`), &spec)
	s, err := simpleschema.ToOpenAPI(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	return Input{
		Group: "kro.run", Version: "v1alpha1", Kind: "WebApp", Spec: s,
		Status:      &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{"url": {Type: "string"}}},
		ShortNames:  []string{"wa"},
		Labels:      map[string]string{"kro.run/owned": "true", "kro.run/resource-graph-definition-name": "webapp"},
		Annotations: map[string]string{"team": "a"},
	}
}

func TestNeedsUpdate(t *testing.T) {
	in := richInput(t)
	desired := Build(in)

	if !NeedsUpdate(nil, desired) {
		t.Error("missing live CRD must need an update")
	}
	live := roundTrip(t, desired)
	if NeedsUpdate(live, desired) {
		t.Fatal("round-tripped CRD reported as changed")
	}
	if NeedsUpdate(live, Build(in)) {
		t.Fatal("rebuilding from the same input reported as changed")
	}

	// Fields the apiserver defaults may be absent in a desired object built
	// elsewhere; they must not count as differences.
	d2 := desired.DeepCopy()
	d2.Spec.Conversion = nil
	d2.Spec.Names.ListKind = ""
	d2.Spec.Names.Singular = ""
	if NeedsUpdate(live, d2) {
		t.Error("apiserver-defaulted fields counted as a difference")
	}

	changes := map[string]func(c *apiextv1.CustomResourceDefinition){
		"label value": func(c *apiextv1.CustomResourceDefinition) { c.Labels["kro.run/owned"] = "false" },
		"label added": func(c *apiextv1.CustomResourceDefinition) { c.Labels["kro.run/kro-version"] = "v2" },
		"annotation":  func(c *apiextv1.CustomResourceDefinition) { c.Annotations["team"] = "b" },
		"short names": func(c *apiextv1.CustomResourceDefinition) { c.Spec.Names.ShortNames = []string{"w"} },
		"categories":  func(c *apiextv1.CustomResourceDefinition) { c.Spec.Names.Categories = []string{"all"} },
		"scope":       func(c *apiextv1.CustomResourceDefinition) { c.Spec.Scope = apiextv1.ClusterScoped },
		"printer columns": func(c *apiextv1.CustomResourceDefinition) {
			c.Spec.Versions[0].AdditionalPrinterColumns = c.Spec.Versions[0].AdditionalPrinterColumns[:2]
		},
		"default value": func(c *apiextv1.CustomResourceDefinition) {
			p := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
			port := p.Properties["port"]
			port.Default = &apiextv1.JSON{Raw: []byte("9090")}
			p.Properties["port"] = port
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = p
		},
		"new status field": func(c *apiextv1.CustomResourceDefinition) {
			p := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"]
			p.Properties["ip"] = apiextv1.JSONSchemaProps{Type: "string"}
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"] = p
		},
		"description": func(c *apiextv1.CustomResourceDefinition) {
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = withDescription(c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"])
		},
	}
	for name, mutate := range changes {
		t.Run(name, func(t *testing.T) {
			d := desired.DeepCopy()
			mutate(d)
			if !NeedsUpdate(live, d) {
				t.Errorf("change %q not detected", name)
			}
		})
	}

	// Live-only labels and annotations are not ours to remove.
	live2 := live.DeepCopy()
	live2.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
	if NeedsUpdate(live2, desired) {
		t.Error("extra live annotation reported as a change")
	}
}

func withDescription(p apiextv1.JSONSchemaProps) apiextv1.JSONSchemaProps {
	p.Description = "changed"
	return p
}
