package cel

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	lit := func(s string) Segment { return Segment{Text: s} }
	ex := func(s string) Segment { return Segment{Text: s, IsExpr: true} }
	cases := []struct {
		in   string
		want []Segment
		err  string
	}{
		{in: "", want: nil},
		{in: "plain", want: []Segment{lit("plain")}},
		{in: "${a.b}", want: []Segment{ex("a.b")}},
		{in: "x-${a}-y", want: []Segment{lit("x-"), ex("a"), lit("-y")}},
		{in: "${a}${b}", want: []Segment{ex("a"), ex("b")}},
		{in: "${a}/*", want: []Segment{ex("a"), lit("/*")}},
		{in: "$ {a} $x {", want: []Segment{lit("$ {a} $x {")}},
		{in: "${{'a': 1}.a}", want: []Segment{ex("{'a': 1}.a")}},
		{in: `${"}"}`, want: []Segment{ex(`"}"`)}},
		{in: `${"a\"}"}`, want: []Segment{ex(`"a\"}"`)}},
		{in: `${"${VAR}"}`, want: []Segment{ex(`"${VAR}"`)}},
		{in: `pre ${"${A}" + b} post`, want: []Segment{lit("pre "), ex(`"${A}" + b`), lit(" post")}},
		{in: `"Resource": ["${x.arn}/*"]`, want: []Segment{lit(`"Resource": ["`), ex("x.arn"), lit(`/*"]`)}},
		{in: "${m.map(k, {k: 1})}", want: []Segment{ex("m.map(k, {k: 1})")}},
		{in: "a\n${b}\n", want: []Segment{lit("a\n"), ex("b"), lit("\n")}},
		// errors
		{in: "${a", err: "unterminated"},
		{in: "x ${a.b", err: "unterminated"},
		{in: "${}", err: "empty expression"},
		{in: "${  }", err: "empty expression"},
		{in: "${a + ${b}}", err: "nested"},
		{in: `${"x${b}"}`, err: "nested"},
		// single quotes are not tracked (as in kro): the brace ends the expression early
		{in: "${'}'}", want: []Segment{ex("'"), lit("'}")}},
	}
	for _, c := range cases {
		got, err := ParseTemplate(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseTemplate(%q): want error %q, got %v (%v)", c.in, c.err, err, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseTemplate(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseTemplate(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}
}

func TestStandalone(t *testing.T) {
	cases := []struct {
		in   string
		expr string
		ok   bool
		err  bool
	}{
		{"${a.b}", "a.b", true, false},
		{"${a.b} ", "", false, false},
		{" ${a.b}", "", false, false},
		{"${a.b}\n", "", false, false}, // YAML `|` keeps the newline: not standalone
		{"${a}${b}", "", false, false},
		{"${a}-x-${b}", "", false, false},
		{"text", "", false, false},
		{"${a", "", false, true},
		{"x${a", "", false, true},
		{`${"}"}`, `"}"`, true, false},
	}
	for _, c := range cases {
		expr, ok, err := Standalone(c.in)
		if (err != nil) != c.err || ok != c.ok || expr != c.expr {
			t.Errorf("Standalone(%q) = %q, %v, %v; want %q, %v, err=%v", c.in, expr, ok, err, c.expr, c.ok, c.err)
		}
	}
}

func TestHasExpression(t *testing.T) {
	if !HasExpression("a ${b}") || HasExpression("a $b {c}") || HasExpression("") {
		t.Fatal("HasExpression wrong")
	}
}

func TestCompileTemplate(t *testing.T) {
	env := testEnv(t, EnvOptions{})
	data := sampleData()
	cases := []struct {
		in   string
		want any
		err  string
	}{
		{in: "${schema.spec.name}-config", want: "app-config"},
		{in: "${schema.spec.name}", want: "app"},
		{in: "${schema.spec.replicas}", want: int64(2)},
		{in: "db-${schema.spec.name}-${string(schema.spec.replicas)}", want: "db-app-2"},
		{in: "no expressions", want: "no expressions"},
		{in: `${"${VAR}"}`, want: "${VAR}"},
		{in: `x${"${VAR}"}`, want: "x${VAR}"},
		{in: "n-${schema.spec.replicas}", err: "must return string, got int"},
		{in: "n-${schema.spec.nope}", err: "undefined field 'nope'"},
		{in: "n-${schema.spec.name", err: "unterminated"},
	}
	for _, c := range cases {
		p, err := env.CompileTemplate(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("CompileTemplate(%q): want error %q, got %v", c.in, c.err, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("CompileTemplate(%q): %v", c.in, err)
			continue
		}
		got, err := p.Eval(data)
		if err != nil {
			t.Errorf("Eval(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Eval(%q) = %#v, want %#v", c.in, got, c.want)
		}
	}

	p, err := env.CompileTemplate("${schema.spec.name}-${deployment.metadata.name}")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"schema": {"spec.name"}, "deployment": {"metadata.name"}}
	if !reflect.DeepEqual(p.References, want) {
		t.Errorf("template references = %v, want %v", p.References, want)
	}
	// A dyn part is checked at run time.
	p, err = env.CompileTemplate("v-${schema.spec.values.x}")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(map[string]any{"schema": map[string]any{"spec": map[string]any{"values": map[string]any{"x": int64(1)}}}}); err == nil ||
		!strings.Contains(err.Error(), "must return string") {
		t.Errorf("dyn non-string part: want error, got %v", err)
	}
}
