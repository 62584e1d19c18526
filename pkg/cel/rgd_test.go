package cel

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// rgdFiles lists the RGDs whose expressions must all work, ordered so that
// RGDs used as resources by others come first.
func rgdFiles(t *testing.T, dir string) []string {
	var files []string
	for _, pat := range []string{"manifests/*-rgd.yaml", "bench/rgd-bench.yaml", "kro-e2e/*/rgd.yaml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.SliceStable(files, func(i, j int) bool {
		return !strings.Contains(files[i], "db-webstack") && strings.Contains(files[j], "db-webstack")
	})
	if len(files) < 10 {
		t.Fatalf("expected the shared RGDs, found %d files", len(files))
	}
	return files
}

// knownBroken are expressions that are wrong in the source manifests
// (see shared/manifests/README.md) and must fail with the given message.
var knownBroken = map[string]string{
	"podidentity.kro.run status.serviceAccount": "undeclared reference to 'serviceaccount'",
}

func TestRGDExpressions(t *testing.T) {
	reflected := map[string]*spec.Schema{}
	for gvk, typ := range coreKinds {
		reflected[gvk] = schemaOf(typ)
	}
	t.Run("reflected-core-schemas", func(t *testing.T) { checkAllRGDs(t, reflected) })
	t.Run("apiserver-core-schemas", func(t *testing.T) { checkAllRGDs(t, apiserverSchemas(t)) })
}

func checkAllRGDs(t *testing.T, core map[string]*spec.Schema) {
	dir := sharedDir(t)
	schemas := map[string]*spec.Schema{}
	for k, v := range core {
		schemas[k] = v
	}
	crds, _ := filepath.Glob(filepath.Join(dir, "ack-crds", "*.yaml"))
	crds = append(crds, filepath.Join(dir, "kro-e2e/check-unknown-fields/allow-unknown-crd.yaml"))
	for k, v := range crdSchemas(t, crds...) {
		schemas[k] = v
	}

	total := 0
	for _, f := range rgdFiles(t, dir) {
		rgd := readYAML(t, f)
		name := rgd["metadata"].(map[string]any)["name"].(string)
		t.Run(name, func(t *testing.T) {
			n, gvk, inst := checkRGD(t, rgd, schemas)
			total += n
			schemas[gvk] = inst
		})
	}
	t.Logf("%d expressions compiled, checked and evaluated", total)
	if total < 150 {
		t.Errorf("only %d expressions found; the walk is missing some", total)
	}
}

// checkRGD compiles, type-checks and evaluates every expression of one RGD
// and returns the number of expressions plus the instance CRD schema it
// generates (spec from SimpleSchema, status inferred from CEL types).
func checkRGD(t *testing.T, rgd map[string]any, schemas map[string]*spec.Schema) (int, string, *spec.Schema) {
	name := rgd["metadata"].(map[string]any)["name"].(string)
	sch := rgd["spec"].(map[string]any)["schema"].(map[string]any)
	group := "kro.run"
	if g, ok := sch["group"].(string); ok {
		group = g
	}
	gvk := group + "/" + sch["apiVersion"].(string) + "/" + sch["kind"].(string)

	specSchema := simpleSchema(t, orEmpty(sch["spec"]))
	instance := &spec.Schema{SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}, Properties: map[string]spec.Schema{
		"apiVersion": *spec.StringProperty(),
		"kind":       *spec.StringProperty(),
		"metadata":   {SchemaProps: spec.SchemaProps{Type: spec.StringOrArray{"object"}}},
		"spec":       *specSchema,
	}}}

	vars := []Variable{{Name: "schema", Schema: instance}}
	data := map[string]any{"schema": withMeta(sampleOf(instance, 0))}
	resources, _ := rgd["spec"].(map[string]any)["resources"].([]any)
	resSchemas := map[string]*spec.Schema{}
	for _, r := range resources {
		rm := r.(map[string]any)
		id := rm["id"].(string)
		tmpl, _ := rm["template"].(map[string]any)
		if tmpl == nil {
			tmpl, _ = rm["externalRef"].(map[string]any)
		}
		av, kind := tmpl["apiVersion"].(string), tmpl["kind"].(string)
		s := schemas[av+"/"+kind]
		if s == nil && kind != "SecretProviderClass" {
			t.Errorf("resource %s: no schema for %s/%s", id, av, kind)
		}
		resSchemas[id] = s
		vars = append(vars, Variable{Name: id, Schema: s})
		data[id] = withMeta(sampleOf(withTypeMeta(orDyn(s), false), 0))
	}
	env, err := NewEnv(vars, EnvOptions{})
	if err != nil {
		t.Fatalf("NewEnv: %v", err)
	}

	count := 0
	check := func(where, value string, target *spec.Schema, wantBool bool) *Program {
		t.Helper()
		count++
		p, err := env.CompileTemplate(value)
		if want, broken := knownBroken[name+" "+where]; broken {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q: expected error containing %q, got %v", where, value, want, err)
			}
			return nil
		}
		if err != nil {
			t.Errorf("%s: %q: %v", where, value, err)
			return nil
		}
		if _, standalone, _ := Standalone(value); standalone {
			if err := CheckAssignable(p.OutputType, target); err != nil {
				t.Errorf("%s: %q: not assignable: %v", where, value, err)
			}
		}
		if wantBool {
			ok := p.OutputType.Kind() == types.BoolKind ||
				p.OutputType.String() == "optional_type(bool)"
			if !ok {
				t.Errorf("%s: %q: must be bool, got %s", where, value, p.OutputType)
			}
		}
		if len(p.References) == 0 {
			t.Errorf("%s: %q: no references recorded", where, value)
		}
		v, err := p.Eval(data)
		if err != nil {
			t.Errorf("%s: %q: eval: %v", where, value, err)
		}
		if v == nil {
			t.Errorf("%s: %q: nil result", where, value)
		}
		return p
	}

	for _, r := range resources {
		rm := r.(map[string]any)
		id := rm["id"].(string)
		var sites []exprSite
		if tmpl, ok := rm["template"]; ok {
			collectExprs(tmpl, resSchemas[id], id, &sites)
		}
		if ref, ok := rm["externalRef"]; ok {
			collectExprs(ref, nil, id+".externalRef", &sites)
		}
		for _, s := range sites {
			check(s.path, s.value, s.target, false)
		}
		for _, key := range []string{"includeWhen", "readyWhen"} {
			list, _ := rm[key].([]any)
			for i, c := range list {
				str := c.(string)
				if _, ok, err := Standalone(str); !ok || err != nil {
					t.Errorf("%s.%s[%d]: %q is not a standalone expression (%v)", id, key, i, str, err)
					continue
				}
				check(id+"."+key, str, nil, true)
			}
		}
	}

	// Status: types inferred from the expressions.
	status := &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
		"state": {Type: "string"},
		"conditions": {Type: "array", Items: &apiextv1.JSONSchemaPropsOrArray{Schema: &apiextv1.JSONSchemaProps{
			Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
				"type": {Type: "string"}, "status": {Type: "string"}, "reason": {Type: "string"},
				"message": {Type: "string"}, "lastTransitionTime": {Type: "string", Format: "date-time"},
				"observedGeneration": {Type: "integer"},
			}}}},
	}}
	if st, ok := sch["status"].(map[string]any); ok {
		for _, k := range sortedKeys(st) {
			p := check("status."+k, st[k].(string), nil, false)
			if p == nil {
				status.Properties[k] = *preserveUnknown()
				continue
			}
			status.Properties[k] = *InferSchema(p.OutputType)
		}
	}
	statusSchema, err := SchemaFromCRD(status)
	if err != nil {
		t.Fatal(err)
	}
	full := *instance
	full.Properties = map[string]spec.Schema{}
	for k, v := range instance.Properties {
		full.Properties[k] = v
	}
	full.Properties["status"] = *statusSchema
	return count, gvk, &full
}

func orEmpty(v any) any {
	if v == nil {
		return map[string]any{}
	}
	return v
}

func orDyn(s *spec.Schema) *spec.Schema {
	if s == nil {
		return preserve()
	}
	return s
}

// withMeta makes sure sample objects have a name and namespace, as real
// objects do.
func withMeta(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["metadata"] = meta
	}
	meta["name"] = "sample"
	meta["namespace"] = "default"
	return m
}
