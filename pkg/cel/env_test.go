package cel

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

func mustJSON(t testing.TB, s string) *spec.Schema {
	t.Helper()
	out := new(spec.Schema)
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// instanceSchema is what the graph builder would declare as `schema`.
const instanceSchemaJSON = `{"type":"object","properties":{
 "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":{"type":"object"},
 "spec":{"type":"object","properties":{
   "name":{"type":"string"},
   "replicas":{"type":"integer"},
   "ratio":{"type":"number"},
   "enabled":{"type":"boolean"},
   "values":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
   "free":{"type":"object"},
   "tags":{"type":"object","additionalProperties":{"type":"string"}},
   "ports":{"type":"array","items":{"type":"integer"}},
   "items":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"},"port":{"type":"integer"}}}},
   "x-dashed":{"type":"string"}
 }}}}`

// bucketSchema mimics an ACK CRD: metadata without properties.
const bucketSchemaJSON = `{"type":"object","properties":{
 "apiVersion":{"type":"string"},"kind":{"type":"string"},"metadata":{"type":"object"},
 "spec":{"type":"object","properties":{"name":{"type":"string"}}},
 "status":{"type":"object","properties":{
   "ackResourceMetadata":{"type":"object","properties":{"arn":{"type":"string"}}},
   "conditions":{"type":"array","items":{"type":"object","properties":{
     "type":{"type":"string"},"status":{"type":"string"},"message":{"type":"string"},
     "lastTransitionTime":{"type":"string","format":"date-time"}}}}}}}}`

func testVars(t testing.TB) []Variable {
	return []Variable{
		{Name: "schema", Schema: mustJSON(t, instanceSchemaJSON)},
		{Name: "deployment", Schema: schemaOf(reflect.TypeOf(appsv1.Deployment{}))},
		{Name: "service", Schema: schemaOf(reflect.TypeOf(corev1.Service{}))},
		{Name: "secret", Schema: schemaOf(reflect.TypeOf(corev1.Secret{}))},
		{Name: "configs", Schema: schemaOf(reflect.TypeOf(corev1.ConfigMap{})), List: true},
		{Name: "bucket", Schema: mustJSON(t, bucketSchemaJSON)},
		{Name: "free"}, // no schema: dyn
		{Name: "item", Schema: mustJSON(t, `{"type":"object","properties":{"name":{"type":"string"}}}`), Plain: true},
	}
}

func testEnv(t testing.TB, opts EnvOptions) *Env {
	t.Helper()
	env, err := NewEnv(testVars(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func sampleData() map[string]any {
	return map[string]any{
		"schema": map[string]any{
			"apiVersion": "kro.run/v1alpha1", "kind": "App",
			"metadata": map[string]any{"name": "inst", "namespace": "ns1", "labels": map[string]any{"team": "a"}},
			"spec": map[string]any{
				"name": "app", "replicas": int64(2), "ratio": 0.5, "enabled": true,
				"values":   map[string]any{"a": map[string]any{"b": "deep"}, "n": int64(7)},
				"free":     map[string]any{"k": "v"},
				"tags":     map[string]any{"env": "dev"},
				"ports":    []any{int64(80), int64(443)},
				"items":    []any{map[string]any{"name": "one", "port": int64(1)}, map[string]any{"name": "two", "port": int64(2)}},
				"x-dashed": "dash",
			},
		},
		"deployment": map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "app", "namespace": "ns1", "creationTimestamp": "2026-01-02T03:04:05Z", "generation": int64(4)},
			"spec":     map[string]any{"replicas": int64(3)},
			"status": map[string]any{"availableReplicas": int64(3), "conditions": []any{
				map[string]any{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "lastTransitionTime": "2026-01-02T03:04:05Z"},
			}},
		},
		"service": map[string]any{
			"metadata": map[string]any{"name": "svc"},
			"spec": map[string]any{"ports": []any{
				map[string]any{"port": int64(80), "targetPort": int64(8080)},
				map[string]any{"port": int64(81), "targetPort": "http"},
			}},
		},
		"secret": map[string]any{"metadata": map[string]any{"name": "s"}, "data": map[string]any{"password": "aHVudGVyMg=="}},
		"configs": []any{
			map[string]any{"metadata": map[string]any{"name": "c1"}, "data": map[string]any{"k": "1"}},
			map[string]any{"metadata": map[string]any{"name": "c2"}, "data": map[string]any{"k": "2"}},
		},
		"bucket": map[string]any{
			"metadata": map[string]any{"name": "b", "labels": map[string]any{"x": "y"}, "generation": int64(1)},
			"status":   map[string]any{"ackResourceMetadata": map[string]any{"arn": "arn:aws:s3:::b"}},
		},
		"free": map[string]any{"anything": []any{int64(1), "two"}},
		"item": map[string]any{"name": "it"},
	}
}

func eval(t testing.TB, env *Env, expr string, data map[string]any) (any, error) {
	t.Helper()
	p, err := env.Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return p.Eval(data)
}

func TestEvalValues(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	data := sampleData()
	cases := []struct {
		expr string
		want any
		typ  string
	}{
		{"schema.spec.name", "app", "string"},
		{"schema.spec.replicas * 2", int64(4), "int"},
		{"schema.spec.ratio", 0.5, "double"},
		{"schema.spec.enabled", true, "bool"},
		{"schema.metadata.name", "inst", "string"},
		{"schema.metadata.labels['team']", "a", "string"},
		{"schema.spec.values.a.b", "deep", "dyn"},
		{"schema.spec.values.n + 1", int64(8), "int"},
		{"schema.spec.free.k", "v", "dyn"},
		{"schema.spec.tags.env", "dev", "string"},
		{"schema.spec.ports", []any{int64(80), int64(443)}, "list(int)"},
		{"schema.spec.ports.sum()", int64(523), "int"},
		{"schema.spec.items.map(i, i.name)", []any{"one", "two"}, "list(string)"},
		{"schema.spec.items.filter(i, i.port > 1)[0].name", "two", "string"},
		{"schema.spec.x__dash__dashed", "dash", "string"},
		{"has(schema.spec.name)", true, "bool"},
		{"has(schema.spec.ratio) && !has(schema.metadata.uid)", true, "bool"},
		{"deployment.spec.replicas == deployment.status.availableReplicas", true, "bool"},
		{"deployment.metadata.generation", int64(4), "int"},
		{"deployment.metadata.creationTimestamp", "2026-01-02T03:04:05Z", "google.protobuf.Timestamp"},
		{"deployment.metadata.creationTimestamp < timestamp('2030-01-01T00:00:00Z')", true, "bool"},
		{"deployment.status.conditions.exists(c, c.type == 'Available' && c.status == 'True')", true, "bool"},
		{"service.spec.ports[0].targetPort", int64(8080), "dyn"},
		{"service.spec.ports[1].targetPort", "http", "dyn"},
		{"has(service.spec.clusterIP)", false, "bool"},
		{"secret.data.password", "aHVudGVyMg==", "bytes"},
		{"string(secret.data.password)", "hunter2", "string"},
		{"configs.map(c, c.metadata.name)", []any{"c1", "c2"}, "list(string)"},
		{"size(configs)", int64(2), "int"},
		{"configs.all(c, has(c.data.k))", true, "bool"},
		{"bucket.metadata.name + '/' + bucket.metadata.labels.x", "b/y", "string"},
		{"bucket.metadata.generation + 1", int64(2), "int"},
		{"bucket.status.ackResourceMetadata.arn", "arn:aws:s3:::b", "string"},
		{"free.anything[1]", "two", "dyn"},
		{"item.name", "it", "string"},
		{"schema.spec.values.?nope.orValue('d')", "d", "dyn"},
		{"schema.spec.?name", "app", "optional_type(string)"},
		{"schema.metadata.?uid", None, "optional_type(string)"},
		{"{'a': schema.spec.replicas, 'b': [1, 2.5, 'x', null, b'hi']}", map[string]any{"a": int64(2), "b": []any{int64(1), 2.5, "x", nil, "aGk="}}, "map(string, dyn)"},
		{"duration('1h30m')", "1h30m0s", "google.protobuf.Duration"},
		{"1u", int64(1), "uint"},
		{"schema.spec.ratio > 0 && schema.spec.replicas < 2.5", true, "bool"},
		{"deployment.status.?readyReplicas.orValue(0) > 0", false, "bool"},
		{"deployment.status.?availableReplicas.orValue(0) > 0", true, "bool"},
		{"schema.spec.tags.?missing.orValue('none')", "none", "string"},
		{"has(schema.spec.values) && schema.spec.values.a.b == 'deep'", true, "bool"},
		{"configs.all(c, c.metadata.name.startsWith('c'))", true, "bool"},
		{"configs.exists_one(c, c.data.k == '2')", true, "bool"},
		{"'team' in schema.metadata.labels && 443 in schema.spec.ports", true, "bool"},
		{"schema.metadata.labels == {'team': 'a'}", true, "bool"},
		{"deployment.metadata.name + '.' + deployment.metadata.namespace + '.svc'", "app.ns1.svc", "string"},
		{"schema.spec.items.map(i, {'name': i.name, 'containerPort': i.port})",
			[]any{map[string]any{"name": "one", "containerPort": int64(1)}, map[string]any{"name": "two", "containerPort": int64(2)}}, "list(map(string, dyn))"},
		{"type(1)", "int", "type(int)"},
	}
	for _, c := range cases {
		p, err := env.Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		if got := p.OutputType.String(); c.typ != "" && got != c.typ {
			t.Errorf("%q: type %s, want %s", c.expr, got, c.typ)
		}
		got, err := p.Eval(data)
		if err != nil {
			t.Errorf("Eval(%q): %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Eval(%q) = %#v, want %#v", c.expr, got, c.want)
		}
	}
}

func TestWholeObjects(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	data := sampleData()
	// Integer fields decoded as float64 come back as int64.
	data["schema"].(map[string]any)["spec"].(map[string]any)["replicas"] = float64(5)
	got, err := eval(t, env, "schema.spec.replicas", data)
	if err != nil || got != int64(5) {
		t.Fatalf("float64 in integer field: %#v %v", got, err)
	}
	got, err = eval(t, env, "schema.spec", data)
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	if m["replicas"] != int64(5) {
		t.Errorf("replicas = %#v", m["replicas"])
	}
	// The result is a copy: changing it leaves the input alone.
	m["name"] = "changed"
	m["items"].([]any)[0].(map[string]any)["name"] = "changed"
	spec := data["schema"].(map[string]any)["spec"].(map[string]any)
	if spec["name"] != "app" || spec["items"].([]any)[0].(map[string]any)["name"] != "one" {
		t.Error("Eval result aliases the input data")
	}
	got, err = eval(t, env, "deployment.status.conditions", data)
	if err != nil {
		t.Fatal(err)
	}
	if c := got.([]any)[0].(map[string]any); c["lastTransitionTime"] != "2026-01-02T03:04:05Z" {
		t.Errorf("conditions = %#v", got)
	}
}

func TestCompileErrors(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	cases := map[string]string{
		"deployment.status.availableReplica":  "undefined field 'availableReplica'",
		"deployment.spec.replica > 1":         "undefined field 'replica'",
		"bucket.metadata.nope":                "undefined field 'nope'",
		"bucket.status.ackResourceMetadata.x": "undefined field 'x'",
		"schema.status":                       "undefined field 'status'",
		"item.metadata":                       "undefined field 'metadata'",
		"foo.bar":                             "undeclared reference to 'foo'",
		"schema.spec.name + 1":                "found no matching overload for '_+_'",
		"schema.spec.name.frobnicate()":       "undeclared reference to 'frobnicate'",
		"schema.spec.replicas == 'x'":         "found no matching overload for '_==_'",
		"schema.spec.(":                       "Syntax error",
		"omit()":                              "undeclared reference to 'omit'",
		"runtime.newCondition({type: 'a', status: 'True'})": "undeclared reference to 'runtime'",
		"configs.metadata": "does not support field selection",
	}
	for expr, want := range cases {
		_, err := env.Compile(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Compile(%q): want error containing %q, got %v", expr, want, err)
		}
	}
}

func TestPending(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	data := sampleData()
	pending := []string{
		"deployment.status.readyReplicas",                 // field absent
		"service.status.loadBalancer.ingress[0].hostname", // status absent
		"schema.spec.items[5].name",                       // index out of bounds
		"schema.spec.tags.missing",                        // map key absent
		"schema.spec.values.nope.deeper",                  // dyn key absent
		"bucket.status.conditions.exists(c, c.type == 'Ready')",
		"[1][3]", // cel-go's own lists use the same wording
	}
	for _, expr := range pending {
		_, err := eval(t, env, expr, data)
		if err == nil || !IsPending(err) {
			t.Errorf("%q: want pending error, got %v", expr, err)
		}
	}
	// A variable without data is pending too.
	_, err := eval(t, env, "deployment.metadata.name", map[string]any{"schema": data["schema"]})
	if err == nil || !IsPending(err) {
		t.Errorf("missing variable: want pending, got %v", err)
	}
	notPending := []string{
		"schema.spec.replicas / 0",
		"int(schema.spec.name)",
		"lists.setAtIndex([1], 3, 2)",
	}
	for _, expr := range notPending {
		_, err := eval(t, env, expr, data)
		if err == nil || IsPending(err) {
			t.Errorf("%q: want a real error, got %v", expr, err)
		}
	}
	if IsPending(nil) || !IsPending(errors.New("wrapped: no such key: x")) {
		t.Error("IsPending basics")
	}
}

func TestReferences(t *testing.T) {
	env := testEnv(t, EnvOptions{Runtime: true})
	cases := []struct {
		expr string
		want map[string][]string
	}{
		{"schema.spec.name", map[string][]string{"schema": {"spec.name"}}},
		{"deployment.spec.replicas == deployment.status.availableReplicas",
			map[string][]string{"deployment": {"spec.replicas", "status.availableReplicas"}}},
		{"has(service.spec.clusterIP)", map[string][]string{"service": {"spec.clusterIP"}}},
		{"schema.metadata.labels['team'] + schema.spec.?name.orValue('')",
			map[string][]string{"schema": {"metadata.labels.team", "spec.name"}}},
		{"service.spec.ports[0].port", map[string][]string{"service": {"spec.ports[0].port"}}},
		{"configs.map(c, c.metadata.name)", map[string][]string{"configs": {""}}},
		{"size(configs) + deployment.spec.replicas", map[string][]string{"configs": {""}, "deployment": {"spec.replicas"}}},
		{"schema.spec.items.map(x, x.name + schema.spec.name)", map[string][]string{"schema": {"spec.items", "spec.name"}}},
		{"cel.bind(d, deployment, d.metadata.name)", map[string][]string{"deployment": {""}}},
		{"[1, 2].map(schema, schema + 1)", map[string][]string{}},
		{"runtime.condition(deployment, 'Available').hasValue()", map[string][]string{"runtime": {""}, "deployment": {""}}},
		{"1 + 2", map[string][]string{}},
	}
	for _, c := range cases {
		p, err := env.Compile(c.expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", c.expr, err)
			continue
		}
		if !reflect.DeepEqual(p.References, c.want) {
			t.Errorf("References(%q) = %v, want %v", c.expr, p.References, c.want)
		}
	}
}

func TestNewEnvErrors(t *testing.T) {
	if _, err := NewEnv([]Variable{{Name: "a"}, {Name: "a"}}, EnvOptions{}); err == nil {
		t.Error("duplicate variable accepted")
	}
	if _, err := NewEnv([]Variable{{Name: ""}}, EnvOptions{}); err == nil {
		t.Error("empty name accepted")
	}
	if _, err := NewEnv([]Variable{{Name: "runtime"}}, EnvOptions{Runtime: true}); err == nil {
		t.Error("runtime variable accepted with Runtime option")
	}
	// Two envs with the same variable name but different schemas don't mix.
	a, err := NewEnv([]Variable{{Name: "x", Schema: mustJSON(t, `{"type":"object","properties":{"a":{"type":"string"}}}`), Plain: true}}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewEnv([]Variable{{Name: "x", Schema: mustJSON(t, `{"type":"object","properties":{"a":{"type":"integer"}}}`), Plain: true}}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pa, err := a.Compile("x.a")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Compile("x.a")
	if err != nil {
		t.Fatal(err)
	}
	if pa.OutputType.String() != "string" || pb.OutputType.String() != "int" {
		t.Errorf("types leaked between envs: %s %s", pa.OutputType, pb.OutputType)
	}
	if _, err := a.Compile("x"); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentEval(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	p, err := env.Compile("schema.spec.items.map(i, i.name + '-' + schema.spec.name)")
	if err != nil {
		t.Fatal(err)
	}
	data := sampleData()
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				v, err := p.Eval(data)
				if err != nil {
					done <- err
					return
				}
				if !reflect.DeepEqual(v, []any{"one-app", "two-app"}) {
					done <- errors.New("wrong result")
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestIteratorVariables(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	p, err := env.Compile("schema.spec.items")
	if err != nil {
		t.Fatal(err)
	}
	if p.OutputType.Kind() != types.ListKind {
		t.Fatalf("forEach source must be a list, got %s", p.OutputType)
	}
	elem := p.OutputType.Parameters()[0]
	ports, _ := env.Compile("schema.spec.ports")
	tags, _ := env.Compile("schema.spec.tags")
	vars := append(testVars(t),
		Variable{Name: "item2", Type: elem},
		Variable{Name: "port", Type: ports.OutputType.Parameters()[0]},
		Variable{Name: "tagmap", Type: tags.OutputType},
		Variable{Name: "anything", Type: cel.DynType},
	)
	env2, err := NewEnv(vars, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	items, err := p.Eval(sampleData())
	if err != nil {
		t.Fatal(err)
	}
	data := sampleData()
	data["item2"] = items.([]any)[1]
	data["port"] = float64(443) // JSON decoders may hand out float64
	data["tagmap"] = map[string]any{"a": "b"}
	data["anything"] = []any{"x"}
	cases := []struct {
		expr string
		want any
	}{
		{"schema.spec.name + '-' + item2.name", "app-two"},
		{"item2.port + 1", int64(3)},
		{"port + 1", int64(444)},
		{"tagmap.a", "b"},
		{"anything[0]", "x"},
	}
	for _, c := range cases {
		got, err := eval(t, env2, c.expr, data)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, %v; want %#v", c.expr, got, err, c.want)
		}
	}
	if _, err := env2.Compile("item2.nope"); err == nil || !strings.Contains(err.Error(), "undefined field 'nope'") {
		t.Errorf("iterator typo: %v", err)
	}
}

func TestClusterScopedAndStripStatus(t *testing.T) {
	full := mustJSON(t, bucketSchemaJSON)
	stripped := StripStatus(full)
	if _, ok := stripped.Properties["status"]; ok {
		t.Fatal("status not stripped")
	}
	if _, ok := full.Properties["status"]; !ok {
		t.Fatal("StripStatus modified its input")
	}
	env, err := NewEnv([]Variable{
		{Name: "schema", Schema: stripped, ClusterScoped: true},
		{Name: "ns", Schema: stripped},
	}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Compile("schema.metadata.namespace"); err == nil {
		t.Error("cluster-scoped instance must not declare metadata.namespace")
	}
	for _, ok := range []string{"schema.metadata.name", "ns.metadata.namespace", "schema.spec.name"} {
		if _, err := env.Compile(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if _, err := env.Compile("schema.status"); err == nil {
		t.Error("schema.status must be undefined")
	}
}

func TestInputShapes(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	data := sampleData()
	cm := func(name string) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": name}}}
	}
	for _, in := range []any{
		[]map[string]any{{"metadata": map[string]any{"name": "a"}}, {"metadata": map[string]any{"name": "b"}}},
		[]*unstructured.Unstructured{cm("a"), cm("b")},
	} {
		data["configs"] = in
		got, err := eval(t, env, "configs.map(c, c.metadata.name)", data)
		if err != nil || !reflect.DeepEqual(got, []any{"a", "b"}) {
			t.Errorf("%T: %#v %v", in, got, err)
		}
	}
	data["deployment"] = &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"replicas": int64(7)}}}
	if got, err := eval(t, env, "deployment.spec.replicas", data); err != nil || got != int64(7) {
		t.Errorf("unstructured: %#v %v", got, err)
	}
}

func TestEvalContext(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	p, err := env.Compile("lists.range(2000).map(i, lists.range(2000).filter(j, j == i)).size()")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.EvalContext(ctx, sampleData()); err == nil || IsPending(err) {
		t.Errorf("cancelled evaluation: %v", err)
	}
	q, _ := env.Compile("schema.spec.name")
	if v, err := q.EvalContext(context.Background(), sampleData()); err != nil || v != "app" {
		t.Errorf("%v %v", v, err)
	}
	r, _ := env.CompileTemplate("${schema.spec.name}-x")
	if v, err := r.EvalContext(context.Background(), sampleData()); err != nil || v != "app-x" {
		t.Errorf("%v %v", v, err)
	}
}

func TestDottedPropertyNames(t *testing.T) {
	s := mustJSON(t, `{"type":"object","properties":{
	  "x":{"type":"object","properties":{"y":{"type":"object","properties":{"a":{"type":"string"}}}}},
	  "x.y":{"type":"object","properties":{"b":{"type":"integer"}}}}}`)
	env, err := NewEnv([]Variable{{Name: "v", Schema: s, Plain: true}}, EnvOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for expr, want := range map[string]string{"v.x.y.a": "string"} {
		p, err := env.Compile(expr)
		if err != nil || p.OutputType.String() != want {
			t.Errorf("%s: %v %v", expr, p, err)
		}
	}
	if _, err := env.Compile("v.x.y.b"); err == nil {
		t.Error("fields of `x.y` leaked into x.y")
	}
}
