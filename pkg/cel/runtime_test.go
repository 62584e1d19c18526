package cel

import (
	"reflect"
	"strings"
	"testing"
)

func TestNewCondition(t *testing.T) {
	env := testEnv(t, EnvOptions{Runtime: true})
	data := sampleData()
	cases := []struct {
		expr string
		want any
	}{
		{"runtime.newCondition({type: 'Ready', status: 'True'})",
			map[string]any{"type": "Ready", "status": "True"}},
		{"runtime.newCondition({type: 'DeploymentAvailable', status: deployment.status.availableReplicas > 0 ? 'True' : 'False', reason: 'Replicas', message: string(deployment.status.availableReplicas) + ' available'})",
			map[string]any{"type": "DeploymentAvailable", "status": "True", "reason": "Replicas", "message": "3 available"}},
		{"[runtime.newCondition({type: 'A', status: 'Unknown'}), runtime.newCondition({type: 'B', status: 'False'})]",
			[]any{map[string]any{"type": "A", "status": "Unknown"}, map[string]any{"type": "B", "status": "False"}}},
		{"runtime.newCondition({type: 'A', status: 'True'}).status", "True"},
	}
	for _, c := range cases {
		got, err := eval(t, env, c.expr, data)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.expr, got, c.want)
		}
	}
	p, err := env.Compile("runtime.newCondition({type: 'A', status: 'True'})")
	if err != nil {
		t.Fatal(err)
	}
	if p.OutputType.String() != ConditionTypeName {
		t.Errorf("output type %s", p.OutputType)
	}
	s := InferSchema(p.OutputType)
	if s.Type != "object" || s.Properties["type"].Type != "string" || s.Properties["observedGeneration"].Type != "integer" {
		t.Errorf("condition schema = %+v", s)
	}

	compileErrs := map[string]string{
		"runtime.newCondition({type: 'A'})":                             "missing required key \"status\"",
		"runtime.newCondition({status: 'True'})":                        "missing required key \"type\"",
		"runtime.newCondition({'type': 'A', status: 'True'})":           "bare identifiers",
		"runtime.newCondition({type: 'A', status: 'True', extra: 'x'})": "unknown key \"extra\"",
		"runtime.newCondition({type: 'A', type: 'B', status: 'True'})":  "duplicate key",
		"runtime.newCondition({type: 'A', status: 'Yes'})":              "status must be True, False or Unknown",
		"runtime.newCondition({type: 'A', status: true})":               "expected type of field 'status' is 'string' but provided type is 'bool'",
		"runtime.newCondition({type: 'A', status: 'True', message: 1})": "expected type of field 'message'",
		"runtime.newCondition(schema.spec.tags)":                        "expects a map literal",
	}
	for expr, want := range compileErrs {
		_, err := env.Compile(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%s): want %q, got %v", expr, want, err)
		}
	}
	// Dynamic values are validated at run time.
	for expr, want := range map[string]string{
		"runtime.newCondition({type: 'A', status: schema.spec.name})":                    "status must be True, False or Unknown",
		"runtime.newCondition({type: schema.metadata.?uid.orValue(''), status: 'True'})": "type must not be empty",
	} {
		_, err := eval(t, env, expr, data)
		if err == nil || !strings.Contains(err.Error(), want) || IsPending(err) {
			t.Errorf("%s: want %q, got %v", expr, want, err)
		}
	}
}

func TestRuntimeCondition(t *testing.T) {
	env := testEnv(t, EnvOptions{Runtime: true})
	data := sampleData()
	// The instance may be passed with its status: built-in conditions are
	// readable through runtime.condition even though `schema.status` is not.
	data["schema"].(map[string]any)["status"] = map[string]any{"conditions": []any{
		map[string]any{"type": "ResourcesReady", "status": "False", "reason": "NotReady", "observedGeneration": int64(2)},
	}}
	cases := []struct {
		expr string
		want any
	}{
		{"runtime.condition(deployment, 'Available').?status.orValue('Unknown')", "True"},
		{"runtime.condition(deployment, 'Progressing').?status.orValue('Unknown')", "Unknown"},
		{"runtime.condition(deployment, 'Available').value().reason", "MinimumReplicasAvailable"},
		{"runtime.condition(deployment, 'Nope')", None},
		{"runtime.condition(schema, 'ResourcesReady').?reason.orValue('')", "NotReady"},
		{"runtime.condition(schema, 'ResourcesReady').value().observedGeneration", int64(2)},
		{"runtime.condition(bucket, 'Ready').hasValue()", false},
		{"runtime.condition(configs[0], 'Ready').hasValue()", false},
		{"runtime.newCondition({type: 'Mirrored', status: runtime.condition(deployment, 'Available').?status.orValue('Unknown')})",
			map[string]any{"type": "Mirrored", "status": "True"}},
	}
	for _, c := range cases {
		got, err := eval(t, env, c.expr, data)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.expr, got, c.want)
		}
	}
	// Selecting through an optional stays optional (CEL optional chaining).
	if p, err := env.Compile("runtime.condition(deployment, 'Nope').status"); err != nil || p.OutputType.String() != "optional_type(string)" {
		t.Errorf("optional chaining: %v %v", p, err)
	}
	if _, err := env.Compile("schema.status"); err == nil {
		t.Error("schema.status must stay undeclared")
	}
}

func TestOmit(t *testing.T) {
	env := testEnv(t, EnvOptions{Omit: true})
	data := sampleData()
	cases := []struct {
		expr string
		want any
	}{
		{"omit()", Omit},
		{"schema.spec.enabled ? omit() : 1", Omit},
		{"!schema.spec.enabled ? omit() : 1", int64(1)},
		{"[1, omit(), 2]", []any{int64(1), int64(2)}},
		{"{'a': omit(), 'b': 1}", map[string]any{"b": int64(1)}},
		{"has(schema.spec.ratio) ? schema.spec.ratio : omit()", 0.5},
	}
	for _, c := range cases {
		got, err := eval(t, env, c.expr, data)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.expr, got, c.want)
		}
	}
	p, err := env.Compile("schema.spec.enabled ? omit() : 1")
	if err != nil {
		t.Fatal(err)
	}
	if !p.UsesOmit {
		t.Error("UsesOmit not set")
	}
	if q, _ := env.Compile("schema.spec.name"); q.UsesOmit {
		t.Error("UsesOmit set without omit()")
	}
	if err := CheckAssignable(p.OutputType, mustJSON(t, `{"type":"integer"}`)); err != nil {
		t.Errorf("omit() branch must be assignable: %v", err)
	}
	if _, err := env.Compile("omit() + 1"); err != nil {
		t.Logf("omit() + 1 rejected at compile time: %v", err)
	} else if _, err := eval(t, env, "omit() + 1", data); err == nil {
		t.Error("arithmetic on omit() must fail")
	}
}
