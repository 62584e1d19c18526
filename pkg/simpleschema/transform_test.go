package simpleschema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// asGeneric turns a schema (or YAML text) into plain JSON values so tests can
// compare shapes without caring about Go pointer layout.
func schemaGeneric(t *testing.T, v any) any {
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

func yamlGeneric(t *testing.T, s string) any {
	t.Helper()
	b, err := yaml.YAMLToJSON([]byte(s))
	if err != nil {
		t.Fatalf("bad test YAML: %v\n%s", err, s)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func mustYAMLMap(t *testing.T, s string) map[string]any {
	t.Helper()
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test YAML: %v\n%s", err, s)
	}
	return m
}

func diffJSON(t *testing.T, got, want any) string {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return ""
	}
	g, _ := json.MarshalIndent(got, "", "  ")
	w, _ := json.MarshalIndent(want, "", "  ")
	return "got:\n" + string(g) + "\nwant:\n" + string(w)
}

func TestToOpenAPI(t *testing.T) {
	tests := []struct {
		name  string
		spec  string
		types string
		want  string
	}{
		{
			name: "atomic types",
			spec: `
s: string
i: integer
b: boolean
f: float
o: object`,
			want: `
type: object
properties:
  s: {type: string}
  i: {type: integer}
  b: {type: boolean}
  f: {type: number}
  o: {type: object, x-kubernetes-preserve-unknown-fields: true}`,
		},
		{
			name: "empty spec",
			spec: ``,
			want: `type: object`,
		},
		{
			name: "arrays and maps nest",
			spec: `
a: "[]string"
aa: "[][]integer"
m: "map[string]boolean"
deep: "map[string][]map[string]integer"
objs: "[]object"`,
			want: `
type: object
properties:
  a: {type: array, items: {type: string}}
  aa: {type: array, items: {type: array, items: {type: integer}}}
  m: {type: object, additionalProperties: {type: boolean}}
  deep:
    type: object
    additionalProperties:
      type: array
      items:
        type: object
        additionalProperties: {type: integer}
  objs: {type: array, items: {type: object, x-kubernetes-preserve-unknown-fields: true}}`,
		},
		{
			name: "nested inline objects with sorted required",
			spec: `
outer:
  zeta: string | required=true
  alpha: string | required=true
  mid: integer
  inner:
    leaf: boolean`,
			want: `
type: object
properties:
  outer:
    type: object
    required: [alpha, zeta]
    properties:
      zeta: {type: string}
      alpha: {type: string}
      mid: {type: integer}
      inner:
        type: object
        properties:
          leaf: {type: boolean}`,
		},
		{
			name: "defaults per type",
			spec: `
s: string | default="a \"quoted\" \\ value"
bare: string | default=plain
empty: string | default=""
i: integer | default=42
neg: integer | default=-3
f: float | default=1.5
b: boolean | default=true
arr: "[]integer | default=[80, 443]"
m: "map[string]string | default={\"a\": \"b]\"}"
o: object | default={}`,
			want: `
type: object
default: {}
properties:
  s: {type: string, default: 'a "quoted" \ value'}
  bare: {type: string, default: plain}
  empty: {type: string, default: ""}
  i: {type: integer, default: 42}
  neg: {type: integer, default: -3}
  f: {type: number, default: 1.5}
  b: {type: boolean, default: true}
  arr: {type: array, items: {type: integer}, default: [80, 443]}
  m: {type: object, additionalProperties: {type: string}, default: {a: "b]"}}
  o: {type: object, x-kubernetes-preserve-unknown-fields: true, default: {}}`,
		},
		{
			name: "default {} propagates through objects without required children",
			spec: `
a:
  b:
    c: string | default="x"
  d: string
req:
  r: string | required=true
  x: integer | default=1
plain:
  p: string`,
			want: `
type: object
default: {}
properties:
  a:
    type: object
    default: {}
    properties:
      b:
        type: object
        default: {}
        properties:
          c: {type: string, default: x}
      d: {type: string}
  req:
    type: object
    required: [r]
    properties:
      r: {type: string}
      x: {type: integer, default: 1}
  plain:
    type: object
    properties:
      p: {type: string}`,
		},
		{
			name: "root with required child gets no default",
			spec: `
name: string | required=true
port: integer | default=80`,
			want: `
type: object
required: [name]
properties:
  name: {type: string}
  port: {type: integer, default: 80}`,
		},
		{
			name: "string markers",
			spec: `
name: string | description="The name | with a pipe" pattern="^[a-z]+\d*$" minLength=1 maxLength=63
color: string | enum="red, green,blue" default=red`,
			want: `
type: object
default: {}
properties:
  name:
    type: string
    description: The name | with a pipe
    pattern: '^[a-z]+\d*$'
    minLength: 1
    maxLength: 63
  color:
    type: string
    enum: [red, green, blue]
    default: red`,
		},
		{
			name: "numeric markers",
			spec: `
port: integer | minimum=1 maximum=65535 enum="80,443"
ratio: float | minimum=0.5 maximum=1e3`,
			want: `
type: object
properties:
  port: {type: integer, minimum: 1, maximum: 65535, enum: [80, 443]}
  ratio: {type: number, minimum: 0.5, maximum: 1000}`,
		},
		{
			name: "validation markers",
			spec: `
id: string | immutable=true validation="self.startsWith('a')"
free: string | immutable=false
count: integer | validation="self > 0" validation="self < 10"`,
			want: `
type: object
properties:
  id:
    type: string
    x-kubernetes-validations:
    - {rule: self == oldSelf, message: field is immutable}
    - {rule: "self.startsWith('a')", message: validation failed}
  free: {type: string}
  count:
    type: integer
    x-kubernetes-validations:
    - {rule: self > 0, message: validation failed}
    - {rule: self < 10, message: validation failed}`,
		},
		{
			name: "array markers",
			spec: `
set: "[]string | uniqueItems=true minItems=1 maxItems=5"
set2: "[]string | uniqueItems=true listType=set"
notunique: "[]string | uniqueItems=false"
atomic: "[]string | listType=atomic"
ports: "[]map[string]string | listMapKey=name listType=map listMapKey=protocol"`,
			want: `
type: object
properties:
  set: {type: array, items: {type: string}, x-kubernetes-list-type: set, minItems: 1, maxItems: 5}
  set2: {type: array, items: {type: string}, x-kubernetes-list-type: set}
  notunique: {type: array, items: {type: string}}
  atomic: {type: array, items: {type: string}, x-kubernetes-list-type: atomic}
  ports:
    type: array
    items: {type: object, additionalProperties: {type: string}}
    x-kubernetes-list-type: map
    x-kubernetes-list-map-keys: [name, protocol]`,
		},
		{
			name: "required=false and required on arrays/maps",
			spec: `
a: string | required=false
b: "[]string | required=true"
c: "map[string]string | required=true"`,
			want: `
type: object
required: [b, c]
properties:
  a: {type: string}
  b: {type: array, items: {type: string}}
  c: {type: object, additionalProperties: {type: string}}`,
		},
		{
			name: "custom struct type referenced before its dependency",
			types: `
A:
  b: B
  list: "[]B"
B:
  x: integer | default=1`,
			spec: `
a: A
m: "map[string]B"`,
			want: `
type: object
default: {}
properties:
  a:
    type: object
    default: {}
    properties:
      b:
        type: object
        default: {}
        properties:
          x: {type: integer, default: 1}
      list:
        type: array
        items:
          type: object
          default: {}
          properties:
            x: {type: integer, default: 1}
  m:
    type: object
    additionalProperties:
      type: object
      default: {}
      properties:
        x: {type: integer, default: 1}`,
		},
		{
			name: "alias markers propagate and field markers add or override",
			types: `
RequiredString: string | required=true
Name: RequiredString | maxLength=10
Env: string | enum="dev,prod" default=dev`,
			spec: `
a: RequiredString
b: RequiredString | required=false
c: Name | description="the name"
e: Env
e2: Env | default=prod
list: "[]RequiredString"`,
			want: `
type: object
required: [a, c]
properties:
  a: {type: string}
  b: {type: string}
  c: {type: string, maxLength: 10, description: the name}
  e: {type: string, enum: [dev, prod], default: dev}
  e2: {type: string, enum: [dev, prod], default: prod}
  list: {type: array, items: {type: string}}`,
		},
		{
			name: "custom type copies are independent",
			types: `
T:
  v: string`,
			spec: `
a: T | description="first"
b: T`,
			want: `
type: object
properties:
  a: {type: object, description: first, properties: {v: {type: string}}}
  b: {type: object, properties: {v: {type: string}}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ToOpenAPI(mustYAMLMap(t, tc.spec), mustYAMLMap(t, tc.types))
			if err != nil {
				t.Fatalf("ToOpenAPI: %v", err)
			}
			if d := diffJSON(t, schemaGeneric(t, got), yamlGeneric(t, tc.want)); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestToOpenAPIErrors(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		types   string
		wantErr string
	}{
		{"unknown type", "ingress:\n  enabled: bool", "", `spec.ingress.enabled: unknown type "bool"`},
		{"unknown marker", "a: string | colour=red", "", `spec.a: unknown marker "colour"`},
		{"marker without value", "a: string | required", "", `spec.a: marker "required" has no value`},
		{"unterminated quote", `a: string | description="abc`, "", `spec.a: marker "description": unterminated quoted value`},
		{"unbalanced json", `a: "[]integer | default=[1, 2"`, "", `spec.a: marker "default": unbalanced brackets`},
		{"junk after quoted value", `a: string | description="x"y`, "", `spec.a: marker "description": unexpected`},
		{"missing type", "a: ' | required=true'", "", `spec.a: missing type`},
		{"null value", "a:", "", `spec.a: missing type`},
		{"non-string leaf", "a: 3", "", `spec.a: unsupported value 3`},
		{"list leaf", "a: [string]", "", `spec.a: unsupported value`},
		{"map with int key", `a: "map[int]string"`, "", `spec.a: invalid map type "map[int]string": key type must be string`},
		{"map missing value", `a: "map[string]"`, "", `spec.a: missing value type`},
		{"array missing elem", `a: "[]"`, "", `spec.a: missing element type`},
		{"nested unknown elem", `a: "map[string][]strin"`, "", `spec.a: unknown type "strin"`},
		{"bad required", "a: string | required=yes", "", `spec.a: invalid required "yes"`},
		{"bad integer default", "a: integer | default=abc", "", `spec.a: invalid default "abc": not an integer`},
		{"float default on integer", "a: integer | default=1.5", "", `spec.a: invalid default "1.5"`},
		{"bad boolean default", "a: boolean | default=maybe", "", `spec.a: invalid default "maybe": not a boolean`},
		{"bad number default", "a: float | default=x", "", `spec.a: invalid default "x": not a number`},
		{"bad json default", "a: object | default=nope", "", `spec.a: invalid default "nope": not valid JSON`},
		{"array default on object", "a: object | default=[1]", "", `spec.a: invalid default "[1]": a JSON array does not fit type object`},
		{"object default on array", `a: "[]string | default={}"`, "", `spec.a: invalid default "{}": a JSON object does not fit type array`},
		{"bad minimum", "a: integer | minimum=low", "", `spec.a: invalid minimum "low"`},
		{"enum on boolean", `a: boolean | enum="true,false"`, "", `spec.a: invalid enum "true,false": enum is only valid for string and integer fields`},
		{"empty enum entry", `a: string | enum="a,,b"`, "", `spec.a: invalid enum "a,,b": empty enum value`},
		{"non-int enum", `a: integer | enum="1,x"`, "", `spec.a: invalid enum "1,x": "x" is not an integer`},
		{"pattern on integer", `a: integer | pattern="x"`, "", `spec.a: pattern is only valid for string fields`},
		{"bad pattern", `a: string | pattern="(["`, "", `spec.a: invalid pattern "(["`},
		{"minLength on array", `a: "[]string | minLength=1"`, "", `spec.a: minLength is only valid for string fields`},
		{"negative maxLength", `a: string | maxLength=-1`, "", `spec.a: invalid maxLength "-1"`},
		{"uniqueItems on string", `a: string | uniqueItems=true`, "", `spec.a: uniqueItems is only valid for array fields`},
		{"minItems on map", `a: "map[string]string | minItems=1"`, "", `spec.a: minItems is only valid for array fields`},
		{"bad listType", `a: "[]string | listType=bag"`, "", `spec.a: invalid listType "bag"`},
		{"listType on object", `a: object | listType=set`, "", `spec.a: listType is only valid for array fields`},
		{"uniqueItems vs atomic", `a: "[]string | listType=atomic uniqueItems=true"`, "", `spec.a: uniqueItems=true conflicts with listType=atomic`},
		{"listMapKey without map", `a: "[]object | listMapKey=name"`, "", `spec.a: listMapKey requires listType=map`},
		{"map list without key", `a: "[]object | listType=map"`, "", `spec.a: listType=map requires at least one listMapKey`},
		{"empty validation", `a: string | validation=""`, "", `spec.a: validation marker needs a CEL expression`},
		{"error path in nested", "a:\n  b:\n    c: string | bogus=1", "", `spec.a.b.c: unknown marker "bogus"`},
		{"cycle", "a: A", "A:\n  b: B\nB:\n  a: A", `types.A: cyclic dependency in type A`},
		{"self cycle via list", "a: string", "Node:\n  children: \"[]Node\"", `types.Node: cyclic dependency in type Node`},
		{"alias cycle", "a: string", "Ax: Bx\nBx: Ax", `types.Ax: cyclic dependency in type Ax`},
		{"error inside unused type", "a: string", "T:\n  f: strng", `types.T.f: unknown type "strng"`},
		{"builtin type name", "a: string", "string: integer", `types.string: type name "string" collides with a built-in type`},
		{"invalid type name", "a: string", "'my-type': string", `types.my-type: invalid type name "my-type"`},
		{"bad type definition", "a: string", "T: 3", `types.T: unsupported type definition`},
		{"whitespace in type", "a: 'map[string] string'", "", `spec.a: invalid type "map[string] string"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ToOpenAPI(mustYAMLMap(t, tc.spec), mustYAMLMap(t, tc.types))
			if err == nil {
				t.Fatalf("expected error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
			var fe *FieldError
			if !errorsAs(err, &fe) || fe.Path == "" {
				t.Errorf("error %q is not a *FieldError with a path", err)
			}
		})
	}
}

func errorsAs(err error, fe **FieldError) bool {
	e, ok := err.(*FieldError)
	if ok {
		*fe = e
	}
	return ok
}

func TestNestingDepth(t *testing.T) {
	// 16 nested arrays below a root field is the deepest allowed.
	ok := map[string]any{"a": strings.Repeat("[]", MaxNestingDepth-1) + "string"}
	if _, err := ToOpenAPI(ok, nil); err != nil {
		t.Fatalf("depth %d rejected: %v", MaxNestingDepth, err)
	}
	tooDeep := map[string]any{"a": strings.Repeat("[]", MaxNestingDepth) + "string"}
	if _, err := ToOpenAPI(tooDeep, nil); err == nil || !strings.Contains(err.Error(), "spec.a: exceeds maximum nesting depth of 16") {
		t.Fatalf("want depth error, got %v", err)
	}

	// Inline objects count too.
	leaf := map[string]any{"x": "string"}
	for range MaxNestingDepth {
		leaf = map[string]any{"n": leaf}
	}
	if _, err := ToOpenAPI(leaf, nil); err == nil || !strings.Contains(err.Error(), "exceeds maximum nesting depth") {
		t.Fatalf("want depth error for inline objects, got %v", err)
	}

	// A custom type that is shallow on its own can exceed the limit where it
	// is inlined.
	types := map[string]any{"Deep": strings.Repeat("[]", 10) + "string"}
	spec := map[string]any{"a": map[string]any{"b": map[string]any{"c": map[string]any{"d": map[string]any{"e": map[string]any{"f": map[string]any{"g": "Deep"}}}}}}}
	if _, err := ToOpenAPI(spec, types); err == nil || !strings.Contains(err.Error(), "spec.a.b.c.d.e.f.g: type Deep exceeds maximum nesting depth") {
		t.Fatalf("want depth error for inlined type, got %v", err)
	}
}

func TestToOpenAPIDeterministic(t *testing.T) {
	spec := mustYAMLMap(t, `
zz: string | required=true
yy: string | required=true
xx: string | required=true
ww: string | required=true
nested:
  d: string | required=true
  c: string | required=true
  b: string | required=true`)
	first, err := ToOpenAPI(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(first)
	for range 20 {
		got, err := ToOpenAPI(spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(got)
		if string(b) != string(want) {
			t.Fatalf("output not deterministic:\n%s\n%s", b, want)
		}
	}
	if !reflect.DeepEqual(first.Required, []string{"ww", "xx", "yy", "zz"}) {
		t.Errorf("required not sorted: %v", first.Required)
	}
}

// TestRGDSchemas converts every SimpleSchema of the seed manifests, the kro e2e
// cases and the benchmark (copied into testdata) and compares the result.
func TestRGDSchemas(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Spec  map[string]any `json:"spec"`
				Types map[string]any `json:"types"`
				Want  any            `json:"want"`
			}
			if err := yaml.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Want == nil {
				t.Fatal("testdata file lacks want")
			}
			got, err := ToOpenAPI(doc.Spec, doc.Types)
			if err != nil {
				t.Fatalf("ToOpenAPI: %v", err)
			}
			if d := diffJSON(t, schemaGeneric(t, got), schemaGeneric(t, doc.Want)); d != "" {
				t.Error(d)
			}
		})
	}
}
