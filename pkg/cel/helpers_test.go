package cel

import (
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/yaml"
)

// ---- OpenAPI schemas of core kinds, derived from the Go types ----

// schemaOf builds an OpenAPI schema from a k8s.io/api Go type by reflection,
// with the same special cases the API server publishes (Time is a
// date-time string, Quantity and IntOrString are int-or-string, ...).
func schemaOf(t reflect.Type) *spec.Schema {
	return schemaOfDepth(t, 0)
}

func schemaOfDepth(t reflect.Type, depth int) *spec.Schema {
	if depth > 30 {
		return preserve()
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.PkgPath() + "." + t.Name() {
	case "k8s.io/apimachinery/pkg/apis/meta/v1.Time", "k8s.io/apimachinery/pkg/apis/meta/v1.MicroTime":
		return &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}, Format: "date-time"}}
	case "k8s.io/apimachinery/pkg/apis/meta/v1.Duration":
		return spec.StringProperty()
	case "k8s.io/apimachinery/pkg/api/resource.Quantity", "k8s.io/apimachinery/pkg/util/intstr.IntOrString":
		s := &spec.Schema{}
		s.AddExtension("x-kubernetes-int-or-string", true)
		return s
	case "k8s.io/apimachinery/pkg/runtime.RawExtension", "k8s.io/apimachinery/pkg/apis/meta/v1.FieldsV1":
		return preserve()
	}
	switch t.Kind() {
	case reflect.String:
		return spec.StringProperty()
	case reflect.Bool:
		return spec.BooleanProperty()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return spec.Int64Property()
	case reflect.Float32, reflect.Float64:
		return spec.Float64Property()
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"string"}, Format: "byte"}}
		}
		return spec.ArrayProperty(schemaOfDepth(t.Elem(), depth+1))
	case reflect.Map:
		return spec.MapProperty(schemaOfDepth(t.Elem(), depth+1))
	case reflect.Interface:
		return preserve()
	case reflect.Struct:
		s := &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{}}}
		addFields(s, t, depth)
		return s
	}
	return preserve()
}

func addFields(s *spec.Schema, t reflect.Type, depth int) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name := strings.Split(tag, ",")[0]
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			addFields(s, ft, depth)
			continue
		}
		if name == "" {
			name = f.Name
		}
		s.Properties[name] = *schemaOfDepth(f.Type, depth+1)
	}
}

func preserve() *spec.Schema {
	s := &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}}
	s.AddExtension("x-kubernetes-preserve-unknown-fields", true)
	return s
}

var coreKinds = map[string]reflect.Type{
	"apps/v1/Deployment":                     reflect.TypeOf(appsv1.Deployment{}),
	"v1/Service":                             reflect.TypeOf(corev1.Service{}),
	"v1/ConfigMap":                           reflect.TypeOf(corev1.ConfigMap{}),
	"v1/Secret":                              reflect.TypeOf(corev1.Secret{}),
	"v1/ServiceAccount":                      reflect.TypeOf(corev1.ServiceAccount{}),
	"v1/Namespace":                           reflect.TypeOf(corev1.Namespace{}),
	"v1/Pod":                                 reflect.TypeOf(corev1.Pod{}),
	"networking.k8s.io/v1/Ingress":           reflect.TypeOf(networkingv1.Ingress{}),
	"autoscaling/v2/HorizontalPodAutoscaler": reflect.TypeOf(autoscalingv2.HorizontalPodAutoscaler{}),
}

// sharedDir is the project's shared material, checked out beside main.
func sharedDir(t testing.TB) string {
	d, err := filepath.Abs("../../../shared")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); err != nil {
		t.Skipf("shared material not available: %v", err)
	}
	return d
}

func readYAML(t testing.TB, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// crdSchemas loads every CRD in dir: apiVersion/kind -> schema.
func crdSchemas(t testing.TB, files ...string) map[string]*spec.Schema {
	out := map[string]*spec.Schema{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.Unmarshal(b, &crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil {
				continue
			}
			s, err := SchemaFromCRD(v.Schema.OpenAPIV3Schema)
			if err != nil {
				t.Fatal(err)
			}
			out[crd.Spec.Group+"/"+v.Name+"/"+crd.Spec.Names.Kind] = s
		}
	}
	return out
}

// ---- a tiny SimpleSchema reader, enough for the RGDs under test ----

func simpleType(t testing.TB, typ string) *spec.Schema {
	typ = strings.TrimSpace(strings.SplitN(typ, "|", 2)[0])
	switch {
	case typ == "string":
		return spec.StringProperty()
	case typ == "integer":
		return spec.Int64Property()
	case typ == "boolean":
		return spec.BooleanProperty()
	case typ == "float":
		return spec.Float64Property()
	case typ == "object":
		return preserve()
	case strings.HasPrefix(typ, "[]"):
		return spec.ArrayProperty(simpleType(t, typ[2:]))
	case strings.HasPrefix(typ, "map[string]"):
		return spec.MapProperty(simpleType(t, typ[len("map[string]"):]))
	}
	t.Fatalf("unsupported simple schema type %q", typ)
	return nil
}

func simpleSchema(t testing.TB, v any) *spec.Schema {
	switch x := v.(type) {
	case string:
		return simpleType(t, x)
	case map[string]any:
		s := &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{}}}
		for k, e := range x {
			s.Properties[k] = *simpleSchema(t, e)
		}
		return s
	}
	t.Fatalf("unsupported simple schema value %T", v)
	return nil
}

// ---- sample data shaped like a schema ----

// sampleOf produces a value for every field of s (lists with one element,
// maps with one key), so that any path an expression reads exists.
func sampleOf(s *spec.Schema, depth int) any {
	if s == nil || depth > 30 {
		return map[string]any{"field": "value"}
	}
	if isXIntOrString(s) {
		return int64(8080)
	}
	switch schemaType(s) {
	case "string":
		switch s.Format {
		case "date-time":
			return "2026-01-02T03:04:05Z"
		case "byte":
			return "aGVsbG8="
		}
		if len(s.Enum) > 0 {
			if e, ok := s.Enum[0].(string); ok {
				return e
			}
		}
		return "value"
	case "integer":
		return int64(3)
	case "number":
		return 1.5
	case "boolean":
		return true
	case "array":
		if s.Items == nil || s.Items.Schema == nil {
			return []any{"item"}
		}
		return []any{sampleOf(s.Items.Schema, depth+1)}
	case "object":
		if len(s.Properties) > 0 {
			m := map[string]any{}
			for _, k := range sortedKeys(s.Properties) {
				p := s.Properties[k]
				m[k] = sampleOf(&p, depth+1)
			}
			return m
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			return map[string]any{"key": sampleOf(s.AdditionalProperties.Schema, depth+1)}
		}
		return map[string]any{"field": "value", "foo": "bar", "config": map[string]any{"foo": "bar"}}
	}
	return map[string]any{"field": "value"}
}

// ---- walking RGD templates ----

type exprSite struct {
	path   string // where in the template
	value  string // the raw string
	target *spec.Schema
}

// collectExprs finds every string containing ${ in v, tracking the schema
// of the field it lands in (nil when unknown).
func collectExprs(v any, s *spec.Schema, path string, out *[]exprSite) {
	switch x := v.(type) {
	case string:
		if HasExpression(x) {
			*out = append(*out, exprSite{path: path, value: x, target: s})
		}
	case map[string]any:
		for _, k := range sortedKeys(x) {
			collectExprs(x[k], childSchema(s, k), path+"."+k, out)
		}
	case []any:
		var items *spec.Schema
		if s != nil && s.Items != nil {
			items = s.Items.Schema
		}
		for i, e := range x {
			collectExprs(e, items, path+"["+itoa(i)+"]", out)
		}
	}
}

func childSchema(s *spec.Schema, k string) *spec.Schema {
	if s == nil || isXPreserve(s) {
		return nil
	}
	if p, ok := s.Properties[k]; ok {
		return &p
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		return s.AdditionalProperties.Schema
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// apiserverSchemas loads the API server's published OpenAPI v3 schemas of
// the core kinds under test from the compiled-in snapshot kept by the
// builtin resolver, with refs resolved the Kubernetes way.
func apiserverSchemas(t *testing.T) map[string]*spec.Schema {
	dir := "../graph/resolver/builtin/data"
	out := map[string]*spec.Schema{}
	for gvk := range coreKinds {
		i := strings.LastIndex(gvk, "/")
		gv, kind := gvk[:i], gvk[i+1:]
		f, err := os.Open(filepath.Join(dir, strings.ReplaceAll(gv, "/", "_")+".json.gz"))
		if err != nil {
			t.Skipf("API server schema snapshot not available: %v", err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Schemas map[string]*spec.Schema `json:"schemas"`
		}
		if err := json.NewDecoder(zr).Decode(&doc); err != nil {
			t.Fatal(err)
		}
		f.Close()
		for name, s := range doc.Schemas {
			var gvks []map[string]string
			if err := s.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks); err != nil {
				continue
			}
			for _, g := range gvks {
				if g["kind"] != kind || (g["group"] == "" && gv != g["version"]) || (g["group"] != "" && gv != g["group"]+"/"+g["version"]) {
					continue
				}
				resolved, err := resolver.PopulateRefs(func(ref string) (*spec.Schema, bool) {
					s, ok := doc.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
					return s, ok
				}, name)
				if err != nil {
					t.Fatal(err)
				}
				out[gvk] = resolved
			}
		}
		if out[gvk] == nil {
			t.Fatalf("no schema for %s in the snapshot", gvk)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }
