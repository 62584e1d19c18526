package cel

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

func TestCheckAssignable(t *testing.T) {
	env := testEnv(t, EnvOptions{Omit: true})
	podSpec := schemaOf(reflect.TypeOf(corev1.PodSpec{}))
	containerPort := podSpec.Properties["containers"].Items.Schema.Properties["ports"].Items.Schema.Properties["containerPort"]
	cases := []struct {
		expr   string
		target string // JSON schema
		err    string // "" = assignable
	}{
		{"schema.spec.name", `{"type":"string"}`, ""},
		{"schema.spec.replicas", `{"type":"integer"}`, ""},
		{"schema.spec.replicas", `{"type":"number"}`, ""},
		{"schema.spec.ratio", `{"type":"number"}`, ""},
		{"schema.spec.ratio", `{"type":"integer"}`, "expected integer, got double"},
		{"schema.spec.name", `{"type":"integer"}`, "expected integer, got string"},
		{"schema.spec.replicas", `{"type":"string"}`, "expected string, got int"},
		{"schema.spec.enabled", `{"type":"boolean"}`, ""},
		{"schema.spec.name", `{"type":"boolean"}`, "expected boolean, got string"},
		{"schema.spec.name", `{"x-kubernetes-int-or-string":true}`, ""},
		{"schema.spec.replicas", `{"x-kubernetes-int-or-string":true}`, ""},
		{"schema.spec.items", `{"type":"object","x-kubernetes-preserve-unknown-fields":true}`, ""},
		{"schema.spec.values", `{"type":"integer"}`, ""}, // dyn: checked at run time
		{"schema.spec.name", `{}`, ""},
		{"deployment.metadata.creationTimestamp", `{"type":"string","format":"date-time"}`, ""},
		{"secret.data.password", `{"type":"string","format":"byte"}`, ""},
		{"schema.spec.?name", `{"type":"string"}`, ""},
		{"schema.spec.?name", `{"type":"integer"}`, "expected integer, got string"},
		{"schema.spec.enabled ? omit() : 2", `{"type":"integer"}`, ""},
		{"null", `{"type":"string"}`, ""},
		// lists
		{"schema.spec.ports", `{"type":"array","items":{"type":"integer"}}`, ""},
		{"schema.spec.ports", `{"type":"array","items":{"type":"string"}}`, "[]: expected string, got int"},
		{"schema.spec.ports", `{"type":"string"}`, "expected string, got list(int)"},
		{"schema.spec.items.map(i, i.name)", `{"type":"array","items":{"type":"string"}}`, ""},
		{"[]", `{"type":"array","items":{"type":"string"}}`, ""},
		// maps and objects
		{"schema.spec.tags", `{"type":"object","additionalProperties":{"type":"string"}}`, ""},
		{"schema.spec.tags", `{"type":"object","additionalProperties":{"type":"integer"}}`, "*: expected integer, got string"},
		{"{'a': 1}", `{"type":"object","properties":{"a":{"type":"integer"}}}`, ""},
		{"{1: 1}", `{"type":"object","additionalProperties":{"type":"integer"}}`, "string keys"},
		{"schema.spec.items[0]", `{"type":"object","properties":{"name":{"type":"string"},"port":{"type":"integer"},"other":{"type":"string"}}}`, ""},
		{"schema.spec.items[0]", `{"type":"object","properties":{"name":{"type":"string"}}}`, `field "port" does not exist`},
		{"schema.spec.items[0]", `{"type":"object","properties":{"name":{"type":"integer"},"port":{"type":"integer"}}}`, "name: expected integer, got string"},
		{"schema.spec.items[0]", `{"type":"object","additionalProperties":{"type":"string"}}`, "port: expected string, got int"},
		{"schema.spec.items[0]", `{"type":"object"}`, ""},
		{"schema.spec.items", `{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"port":{"type":"integer"}}}}`, ""},
		{"schema.spec.name", `{"type":"object","properties":{"a":{"type":"string"}}}`, "expected object, got string"},
		{"deployment.status.conditions", `{"type":"array","items":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}`, ""},
	}
	for _, c := range cases {
		p, err := env.Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		err = CheckAssignable(p.OutputType, mustJSON(t, c.target))
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s -> %s: unexpected error %v", c.expr, c.target, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s -> %s: want error %q, got %v", c.expr, c.target, c.err, err)
		}
	}
	// The bench RGD: an integer into a real container port; into a nil schema.
	p, _ := env.Compile("schema.spec.replicas")
	if err := CheckAssignable(p.OutputType, &containerPort); err != nil {
		t.Error(err)
	}
	if err := CheckAssignable(p.OutputType, nil); err != nil {
		t.Error(err)
	}
}

func TestInferSchema(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	cases := []struct {
		expr string
		want string // JSON of the JSONSchemaProps
	}{
		{"true", `{"type":"boolean"}`},
		{"1", `{"type":"integer"}`},
		{"1u", `{"type":"integer"}`},
		{"1.5", `{"type":"number"}`},
		{"'s'", `{"type":"string"}`},
		{"b'x'", `{"type":"string","format":"byte"}`},
		{"deployment.metadata.creationTimestamp", `{"type":"string","format":"date-time"}`},
		{"duration('1s')", `{"type":"string","format":"duration"}`},
		{"schema.spec.values", `{"x-kubernetes-preserve-unknown-fields":true}`},
		{"null", `{"x-kubernetes-preserve-unknown-fields":true}`},
		{"schema.spec.ports", `{"type":"array","items":{"type":"integer"}}`},
		{"schema.spec.tags", `{"type":"object","additionalProperties":{"type":"string"}}`},
		{"schema.spec.?name", `{"type":"string"}`},
		{"[schema.spec.values]", `{"type":"array","items":{"x-kubernetes-preserve-unknown-fields":true}}`},
		{"schema.spec.items[0]", `{"type":"object","properties":{"name":{"type":"string"},"port":{"type":"integer"}}}`},
		{"bucket.status.conditions", `{"type":"array","items":{"type":"object","properties":{"lastTransitionTime":{"type":"string","format":"date-time"},"message":{"type":"string"},"status":{"type":"string"},"type":{"type":"string"}}}}`},
	}
	for _, c := range cases {
		p, err := env.Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		got, _ := json.Marshal(InferSchema(p.OutputType))
		if string(got) != c.want {
			t.Errorf("InferSchema(%s) = %s, want %s", c.expr, got, c.want)
		}
	}
	// Whole resources produce a structural object schema that converts back.
	p, err := env.Compile("deployment.status")
	if err != nil {
		t.Fatal(err)
	}
	s := InferSchema(p.OutputType)
	if s.Type != "object" || s.Properties["availableReplicas"].Type != "integer" ||
		s.Properties["conditions"].Items.Schema.Properties["lastUpdateTime"].Format != "date-time" {
		t.Errorf("deployment.status schema: %+v", s)
	}
	if _, err := SchemaFromCRD(s); err != nil {
		t.Error(err)
	}
}

func TestSchemaFromCRD(t *testing.T) {
	yes := true
	p := &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
		"free":  {Type: "object", XPreserveUnknownFields: &yes},
		"port":  {XIntOrString: true, AnyOf: []apiextv1.JSONSchemaProps{{Type: "integer"}, {Type: "string"}}},
		"items": {Type: "array", Items: &apiextv1.JSONSchemaPropsOrArray{Schema: &apiextv1.JSONSchemaProps{Type: "string"}}},
		"meta":  {Type: "object", AdditionalProperties: &apiextv1.JSONSchemaPropsOrBool{Allows: true, Schema: &apiextv1.JSONSchemaProps{Type: "string"}}},
		"when":  {Type: "string", Format: "date-time"},
	}, Required: []string{"port"}}
	s, err := SchemaFromCRD(p)
	if err != nil {
		t.Fatal(err)
	}
	free := s.Properties["free"]
	port := s.Properties["port"]
	if !isXPreserve(&free) || !isXIntOrString(&port) || s.Properties["items"].Items.Schema.Type[0] != "string" ||
		s.Properties["meta"].AdditionalProperties.Schema.Type[0] != "string" || s.Properties["when"].Format != "date-time" ||
		len(s.Required) != 1 {
		t.Errorf("conversion lost information: %+v", s)
	}
	if s, err := SchemaFromCRD(nil); s != nil || err != nil {
		t.Error("nil schema")
	}
	env, err := NewEnv([]Variable{{Name: "x", Schema: s}}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, expr := range []string{"x.free.any.thing", "x.port", "x.items[0] + 'a'", "x.meta['k']", "x.when", "x.metadata.name", "x.kind"} {
		if _, err := env.Compile(expr); err != nil {
			t.Errorf("%s: %v", expr, err)
		}
	}
}

func TestAllOfWrapper(t *testing.T) {
	s := mustJSON(t, `{"type":"object","properties":{"spec":{"allOf":[{"type":"object","properties":{"replicas":{"type":"integer"}}}],"default":{}}}}`)
	env, err := NewEnv([]Variable{{Name: "d", Schema: s}}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.Compile("d.spec.replicas")
	if err != nil || p.OutputType.String() != "int" {
		t.Fatalf("%v %v", p, err)
	}
	if _, err := env.Compile("d.spec.replica"); err == nil {
		t.Error("typo through allOf wrapper accepted")
	}
}

func TestAPIServerSchemas(t *testing.T) {
	core := apiserverSchemas(t)
	env, err := NewEnv([]Variable{
		{Name: "deployment", Schema: core["apps/v1/Deployment"]},
		{Name: "service", Schema: core["v1/Service"]},
		{Name: "hpa", Schema: core["autoscaling/v2/HorizontalPodAutoscaler"]},
	}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]string{
		"deployment.spec.replicas":                                            "int",
		"deployment.metadata.creationTimestamp":                               "google.protobuf.Timestamp",
		"deployment.metadata.labels":                                          "map(string, string)",
		"deployment.spec.template.spec.containers[0].ports[0].containerPort":  "int",
		"deployment.spec.template.spec.containers[0].resources.limits['cpu']": "dyn",
		"service.spec.ports[0].targetPort":                                    "dyn",
		"service.spec.clusterIP":                                              "string",
		"hpa.spec.metrics[0].resource.target.averageUtilization":              "int",
		"has(deployment.status.availableReplicas)":                            "bool",
	}
	for expr, want := range types {
		p, err := env.Compile(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if p.OutputType.String() != want {
			t.Errorf("%s: %s, want %s", expr, p.OutputType, want)
		}
	}
	for _, bad := range []string{"deployment.status.availableReplica", "deployment.spec.template.spec.container", "service.spec.clusterIp"} {
		if _, err := env.Compile(bad); err == nil || !strings.Contains(err.Error(), "undefined field") {
			t.Errorf("%s: want undefined field, got %v", bad, err)
		}
	}
	// Field checks against the real schemas.
	p, _ := env.Compile("deployment.spec.replicas")
	minReplicas := core["autoscaling/v2/HorizontalPodAutoscaler"].Properties["spec"].Properties["minReplicas"]
	if err := CheckAssignable(p.OutputType, &minReplicas); err != nil {
		t.Error(err)
	}
	p, _ = env.Compile("deployment.status.conditions")
	if err := CheckAssignable(p.OutputType, core["apps/v1/Deployment"].Properties["status"].Properties["conditions"].Items.Schema); err == nil {
		t.Error("a list must not be assignable to an object")
	}
	if err := CheckAssignable(p.OutputType, ptr(core["apps/v1/Deployment"].Properties["status"].Properties["conditions"])); err != nil {
		t.Error(err)
	}
}
