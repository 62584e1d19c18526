package cel

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

// FuzzParseTemplate checks the ${…} scanner: no panic; a rejection is a
// *TemplateError whose offset lies inside the input; an accepted string is
// exactly its segments put back together (nothing lost, nothing invented).
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{
		"", "plain", "${a}", "x-${a.b}-y", "${a}${b}", `${"${VAR}"}`, `${"}"}`,
		"${a ? {'k': 1} : {}}", "${", "${}", "${ }", "${a${b}}", "$${a}", "${'}'}",
		`${"\"}"}`, "${{}}", "$", "}${a}{",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := ParseTemplate(s)
		if err != nil {
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("error is not a *TemplateError: %T %v", err, err)
			}
			if te.Offset < 0 || te.Offset >= len(s) {
				t.Fatalf("offset %d outside the input (len %d)", te.Offset, len(s))
			}
			return
		}
		var b strings.Builder
		for i, seg := range segs {
			if seg.IsExpr {
				if strings.TrimSpace(seg.Text) == "" {
					t.Fatalf("segment %d: empty expression accepted", i)
				}
				b.WriteString("${" + seg.Text + "}")
				continue
			}
			if seg.Text == "" {
				t.Fatalf("segment %d: empty literal", i)
			}
			if i > 0 && !segs[i-1].IsExpr {
				t.Fatalf("segment %d: adjacent literals not merged", i)
			}
			b.WriteString(seg.Text)
		}
		if b.String() != s {
			t.Fatalf("segments %#v rebuild %q, not the input %q", segs, b.String(), s)
		}
		if _, _, err := Standalone(s); err != nil {
			t.Fatalf("Standalone rejects what ParseTemplate accepts: %v", err)
		}
	})
}

// FuzzCompileTemplate compiles arbitrary field values against a schema the
// fuzzer also chooses (kube-openapi JSON, as CRDs publish them), then
// evaluates what compiles against an arbitrary JSON object. Invariants: no
// panic in schema typing, compilation, type checking or evaluation;
// evaluation of what type-checked stops under a deadline.
func FuzzCompileTemplate(f *testing.F) {
	seeds := []struct{ schema, tmpl, value string }{
		{instanceSchemaJSON, "${schema.spec.name}", `{"spec":{"name":"a"}}`},
		{instanceSchemaJSON, "${schema.spec.replicas + 1}", `{"spec":{"replicas":3}}`},
		{instanceSchemaJSON, "n-${schema.spec.name}-${string(schema.spec.replicas)}", `{"spec":{"name":"a","replicas":1}}`},
		{instanceSchemaJSON, "${schema.spec.items.map(i, i.name + ':' + string(i.port))}", `{"spec":{"items":[{"name":"x","port":80}]}}`},
		{instanceSchemaJSON, "${schema.spec.tags.filter(k, k.startsWith('a'))}", `{"spec":{"tags":{"ab":"c"}}}`},
		{instanceSchemaJSON, "${schema.spec.values.foo.bar}", `{"spec":{"values":{"foo":{"bar":1}}}}`},
		{instanceSchemaJSON, "${schema.spec.?name.orValue('x')}", `{}`},
		{instanceSchemaJSON, "${schema.metadata.name}", `{"metadata":{"name":"n"}}`},
		{instanceSchemaJSON, "${'%s-%d'.format([schema.spec.name, schema.spec.replicas])}", `{"spec":{"name":"a","replicas":2}}`},
		{instanceSchemaJSON, "${uint(schema.spec.replicas)}", `{"spec":{"replicas":2}}`},
		{instanceSchemaJSON, "${bytes(schema.spec.name)}", `{"spec":{"name":"a"}}`},
		{instanceSchemaJSON, "${schema.spec.ratio * 2.0}", `{"spec":{"ratio":1.5}}`},
		{`{"type":"object","properties":{"spec":{"type":"object","properties":{"q":{"x-kubernetes-int-or-string":true}}}}}`, "${schema.spec.q}", `{"spec":{"q":"1Gi"}}`},
		{`{"type":"object","properties":{"spec":{"type":"object","properties":{"t":{"type":"string","format":"date-time"},"d":{"type":"string","format":"duration"},"b":{"type":"string","format":"byte"}}}}}`, "${schema.spec.t}", `{"spec":{"t":"2024-01-01T00:00:00Z"}}`},
		{`{"type":"array","items":{"type":"array","items":{"type":"integer"}}}`, "${schema}", `[[1]]`},
		{`{}`, "${schema.x.y.z}", `{"x":{"y":{"z":1}}}`},
	}
	for _, s := range seeds {
		f.Add(s.schema, s.tmpl, s.value)
	}
	f.Fuzz(func(t *testing.T, schemaJSON, tmpl, valueJSON string) {
		s := new(spec.Schema)
		if json.Unmarshal([]byte(schemaJSON), s) != nil {
			return
		}
		env, err := NewEnv([]Variable{{Name: "schema", Schema: s}}, EnvOptions{})
		if err != nil {
			return
		}
		prg, err := env.CompileTemplate(tmpl)
		if err != nil {
			return
		}
		var value any
		if json.Unmarshal([]byte(valueJSON), &value) != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, _ = prg.EvalContext(ctx, map[string]any{"schema": value})
	})
}
