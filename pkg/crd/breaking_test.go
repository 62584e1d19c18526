package crd

import (
	"reflect"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/simpleschema"
)

func crdFor(t *testing.T, version, spec, types string) *apiextv1.CustomResourceDefinition {
	t.Helper()
	var s, ty map[string]any
	if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal([]byte(types), &ty); err != nil {
		t.Fatal(err)
	}
	schema, err := simpleschema.ToOpenAPI(s, ty)
	if err != nil {
		t.Fatal(err)
	}
	return Build(Input{Version: version, Kind: "App", Spec: schema})
}

func TestBreaking(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		want     []string // substrings, one per expected change, in order
	}{
		{"identical", "a: string", "a: string", nil},
		{"optional property added", "a: string", "a: string\nb: integer", nil},
		{"required property added with default", "a: string", "a: string\nb: integer | required=true default=1", nil},
		{"property removed", "a: string\nb: integer", "a: string",
			[]string{"v1alpha1: spec.b: property removed"}},
		{"nested property removed", "o:\n  x: string\n  z: string", "o:\n  x: string",
			[]string{"v1alpha1: spec.o.z: property removed"}},
		{"type changed", "a: string", "a: integer",
			[]string{"v1alpha1: spec.a: type changed from string to integer"}},
		{"array element type changed", `a: "[]string"`, `a: "[]integer"`,
			[]string{"v1alpha1: spec.a[*]: type changed from string to integer"}},
		{"map value property removed", "a: \"map[string]T\"", "a: \"map[string]U\"",
			[]string{"v1alpha1: spec.a.*.z: property removed"}},
		{"required added", "a: string", "a: string | required=true",
			[]string{"v1alpha1: spec.a: field became required"}},
		{"new required property", "a: string", "a: string\nb: string | required=true",
			[]string{"v1alpha1: spec.b: field became required"}},
		{"required dropped is fine", "a: string | required=true", "a: string", nil},
		{"enum added", "a: string", `a: string | enum="x,y"`,
			[]string{"v1alpha1: spec.a: enum restriction added"}},
		{"enum restricted", `a: string | enum="x,y,z"`, `a: string | enum="x,z"`,
			[]string{`v1alpha1: spec.a: enum values removed: ["y"]`}},
		{"enum widened", `a: string | enum="x"`, `a: string | enum="x,y"`, nil},
		{"enum removed", `a: string | enum="x"`, `a: string`, nil},
		{"pattern added", "a: string", `a: string | pattern="^a"`,
			[]string{`v1alpha1: spec.a: pattern "^a" added`}},
		{"pattern changed", `a: string | pattern="^a"`, `a: string | pattern="^b"`,
			[]string{`v1alpha1: spec.a: pattern changed from "^a" to "^b"`}},
		{"pattern removed", `a: string | pattern="^a"`, `a: string`, nil},
		{"required default removed", "a: string | required=true default=x", "a: string | required=true",
			[]string{"v1alpha1: spec.a: default removed from required field"}},
		{"optional default removed", "a: string | default=x", "a: string", nil},
		{"minimum tightened", "a: integer | minimum=1", "a: integer | minimum=2",
			[]string{"v1alpha1: spec.a: minimum tightened from 1 to 2"}},
		{"minimum added", "a: integer", "a: integer | minimum=0",
			[]string{"v1alpha1: spec.a: minimum tightened from unset to 0"}},
		{"minimum loosened", "a: integer | minimum=2", "a: integer | minimum=1", nil},
		{"maximum tightened", "a: integer | maximum=10", "a: integer | maximum=5",
			[]string{"v1alpha1: spec.a: maximum tightened from 10 to 5"}},
		{"maximum loosened", "a: integer | maximum=5", "a: integer | maximum=10", nil},
		{"length bounds", "a: string | minLength=1 maxLength=10", "a: string | minLength=2 maxLength=9",
			[]string{"minLength tightened from 1 to 2", "maxLength tightened from 10 to 9"}},
		{"items bounds", `a: "[]string"`, `a: "[]string | minItems=1 maxItems=3"`,
			[]string{"minItems tightened from 0 to 1", "maxItems tightened from unset to 3"}},
		{"several changes are sorted by path", "b: string\na: string\nc: integer", "c: string",
			[]string{"spec.a: property removed", "spec.b: property removed", "spec.c: type changed"}},
	}
	types := "T:\n  x: string\n  z: string\nU:\n  x: string"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Breaking(crdFor(t, "v1alpha1", tc.old, types), crdFor(t, "v1alpha1", tc.new, types))
			if len(got) != len(tc.want) {
				t.Fatalf("got %d changes %q, want %d %q", len(got), got, len(tc.want), tc.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("change %d = %q, want it to contain %q", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestBreakingVersions(t *testing.T) {
	old := crdFor(t, "v1alpha1", "a: string", "")

	renamed := crdFor(t, "v1beta1", "b: string", "")
	if got, want := Breaking(old, renamed), []string{"version v1alpha1 renamed to v1beta1", "v1beta1: spec.a: property removed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("rename: got %q, want %q", got, want)
	}

	notServed := old.DeepCopy()
	notServed.Spec.Versions[0].Served = false
	if got := Breaking(old, notServed); !reflect.DeepEqual(got, []string{"version v1alpha1 is no longer served"}) {
		t.Errorf("served: got %q", got)
	}

	noStatus := old.DeepCopy()
	noStatus.Spec.Versions[0].Subresources = nil
	if got := Breaking(old, noStatus); !reflect.DeepEqual(got, []string{"version v1alpha1: status subresource removed"}) {
		t.Errorf("subresource: got %q", got)
	}

	twoVersions := old.DeepCopy()
	v2 := twoVersions.Spec.Versions[0]
	v2.Name, v2.Storage = "v1", false
	twoVersions.Spec.Versions = append(twoVersions.Spec.Versions, v2)
	if got := Breaking(twoVersions, old); !reflect.DeepEqual(got, []string{"version v1 removed"}) {
		t.Errorf("removed version: got %q", got)
	}

	// Status schema changes count too: a status field that disappears.
	oldSpec := old.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	withStatus := Build(Input{Version: "v1alpha1", Kind: "App", Spec: &oldSpec,
		Status: &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{"url": {Type: "string"}}}})
	if got := Breaking(withStatus, old); !reflect.DeepEqual(got, []string{"v1alpha1: status.url: property removed"}) {
		t.Errorf("status: got %q", got)
	}

	if got := Breaking(old, old.DeepCopy()); got != nil {
		t.Errorf("identical CRDs: got %q", got)
	}
	if Breaking(nil, old) != nil || Breaking(old, nil) != nil {
		t.Error("nil input must yield no changes")
	}
}
