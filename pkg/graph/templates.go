package graph

import (
	"fmt"
	"sort"

	celgo "github.com/google/cel-go/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/trellis-dev/trellis/pkg/cel"
)

// compileNode compiles the template, includeWhen and readyWhen of a node and
// records which resources it reads.
func (b *builder) compileNode(n *pendingNode) error {
	deps := map[string]bool{}
	env := b.tmplEnv
	if len(n.res.ForEach) > 0 {
		var err error
		if env, err = b.compileForEach(n, deps); err != nil {
			return err
		}
	}
	// Every problem of the node is collected, not only the first.
	var errs []error
	if n.Template != nil {
		for k, v := range n.Template {
			var s *spec.Schema
			switch k {
			case "apiVersion", "kind":
				continue // validated by validateTemplateShape
			case "metadata":
				s = &objectMetaSchema
			default:
				var ok bool
				if s, ok = propertySchema(n.schema, k); !ok {
					errs = append(errs, errorf(n.ID, "template."+k, "schema not found for field %s (unknown field)", k))
					continue
				}
			}
			errs = append(errs, b.walkTemplate(env, n, v, s, "template."+k, deps))
		}
		if err := checkIteratorsInIdentity(n); err != nil {
			errs = append(errs, err)
		}
	} else {
		ext := n.res.ExternalRef
		n.External = &External{Selector: ext.Metadata.Selector}
		var err error
		if ext.Metadata.Name != "" {
			if n.External.Name, err = b.compileString(b.env, n.ID, "externalRef.metadata.name", ext.Metadata.Name, stringSchema, deps); err != nil {
				return err
			}
		}
		if sel := ext.Metadata.Selector; sel != nil {
			n.External.SelectorFields = map[string]*Field{}
			values := []string{}
			for _, v := range sel.MatchLabels {
				values = append(values, v)
			}
			for _, e := range sel.MatchExpressions {
				values = append(values, e.Values...)
			}
			for _, v := range values {
				if !cel.HasExpression(v) {
					continue
				}
				f, err := b.compileString(b.env, n.ID, "externalRef.metadata.selector", v, stringSchema, deps)
				if err != nil {
					return err
				}
				n.External.SelectorFields[v] = f
			}
		}
		if ext.Metadata.Namespace != "" {
			if n.External.Namespace, err = b.compileString(b.env, n.ID, "externalRef.metadata.namespace", ext.Metadata.Namespace, stringSchema, deps); err != nil {
				return err
			}
		}
	}
	for i, expr := range n.res.IncludeWhen {
		p, err := b.compileCondition(b.env, n.ID, fmt.Sprintf("includeWhen[%d]", i), expr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for ref := range p.References {
			if b.ids[ref] {
				if ref == n.ID {
					errs = append(errs, errorf(n.ID, fmt.Sprintf("includeWhen[%d]", i), "includeWhen cannot reference the resource itself"))
					continue
				}
				deps[ref] = true
			}
		}
		n.IncludeWhen = append(n.IncludeWhen, p)
	}
	readyEnv, self := b.env, n.ID
	if len(n.res.ForEach) > 0 {
		// Readiness of a collection is judged per item, through `each`.
		var err error
		if readyEnv, err = cel.NewEnv([]cel.Variable{{Name: EachVar, Schema: n.schema}}, cel.EnvOptions{}); err != nil {
			return errorf(n.ID, "readyWhen", "%v", err)
		}
		self = EachVar
	}
	for i, expr := range n.res.ReadyWhen {
		p, err := b.compileCondition(readyEnv, n.ID, fmt.Sprintf("readyWhen[%d]", i), expr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for ref := range p.References {
			if ref != self {
				errs = append(errs, errorf(n.ID, fmt.Sprintf("readyWhen[%d]", i), "readyWhen may only reference %q, not %q", self, ref))
			}
		}
		n.ReadyWhen = append(n.ReadyWhen, p)
	}
	if err := joinErrors(errs); err != nil {
		return err
	}
	for d := range deps {
		if b.ids[d] {
			n.Dependencies = append(n.Dependencies, d)
		}
	}
	sort.Slice(n.Dependencies, func(i, j int) bool {
		return b.graph.ByID[n.Dependencies[i]].Index < b.graph.ByID[n.Dependencies[j]].Index
	})
	return nil
}

// compileCondition compiles a standalone expression that must return bool.
func (b *builder) compileCondition(env *cel.Env, id, path, raw string) (*cel.Program, error) {
	p, err := b.compileCondition0With(env, id, path, raw)
	if err != nil {
		return nil, err
	}
	t := p.OutputType
	if !t.IsExactType(celgo.BoolType) && !t.IsExactType(celgo.OptionalType(celgo.BoolType)) && !t.IsExactType(celgo.DynType) {
		return nil, errorf(id, path, "must return bool, returns %s", t)
	}
	return p, nil
}

var stringSchema = &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}

// compileString compiles one string of a template that carries expressions,
// checking that its value fits the schema of the field it fills.
func (b *builder) compileString(env *cel.Env, id, path, raw string, want *spec.Schema, deps map[string]bool) (*Field, error) {
	segs, err := cel.ParseTemplate(raw)
	if err != nil {
		return nil, errorf(id, path, "%v", err)
	}
	f := &Field{Raw: raw, Standalone: len(segs) == 1 && segs[0].IsExpr}
	for _, seg := range segs {
		if !seg.IsExpr {
			f.Parts = append(f.Parts, Part{Text: seg.Text})
			continue
		}
		p, err := env.Compile(seg.Text)
		if err != nil {
			return nil, errorf(id, path, "%v", err)
		}
		if f.Standalone {
			if err := cel.CheckAssignable(p.OutputType, want); err != nil {
				return nil, errorf(id, path, "%v", err)
			}
		} else if !p.OutputType.IsExactType(celgo.StringType) && !p.OutputType.IsExactType(celgo.DynType) {
			return nil, errorf(id, path, "expression ${%s} in a string template must return string, returns %s", seg.Text, p.OutputType)
		}
		for ref := range p.References {
			if ref == id {
				return nil, errorf(id, path, "self references are not allowed (${%s})", seg.Text)
			}
			if b.ids[ref] {
				deps[ref] = true
			}
		}
		f.Parts = append(f.Parts, Part{Program: p})
	}
	if !f.Standalone {
		if err := cel.CheckAssignable(celgo.StringType, want); err != nil {
			return nil, errorf(id, path, "%v", err)
		}
	}
	return f, nil
}

// walkTemplate visits every value of a template alongside the schema of the
// field it fills: expressions are compiled and type-checked, literal fields
// must exist in the schema.
func (b *builder) walkTemplate(env *cel.Env, n *pendingNode, v any, s *spec.Schema, path string, deps map[string]bool) error {
	switch val := v.(type) {
	case string:
		if !cel.HasExpression(val) {
			return checkLiteral(n.ID, path, val, s)
		}
		f, err := b.compileString(env, n.ID, path, val, s, deps)
		if err != nil {
			return err
		}
		if prev, ok := n.Fields[val]; ok && prev.Standalone != f.Standalone {
			return errorf(n.ID, path, "internal error: inconsistent field %q", val)
		}
		n.Fields[val] = f
		return nil
	case map[string]any:
		if s != nil && !isAny(s) && !hasType(s, "object") {
			return errorf(n.ID, path, "expected %s, got object", typeName(s))
		}
		var errs []error
		for k, child := range val {
			cs, ok := propertySchema(s, k)
			if !ok {
				errs = append(errs, errorf(n.ID, path+"."+k, "schema not found for field %s (unknown field)", k))
				continue
			}
			errs = append(errs, b.walkTemplate(env, n, child, cs, path+"."+k, deps))
		}
		return joinErrors(errs)
	case []any:
		if s != nil && !isAny(s) && !hasType(s, "array") {
			return errorf(n.ID, path, "expected %s, got array", typeName(s))
		}
		var is *spec.Schema
		if s != nil && s.Items != nil {
			is = s.Items.Schema
		}
		var errs []error
		for i, child := range val {
			errs = append(errs, b.walkTemplate(env, n, child, is, fmt.Sprintf("%s[%d]", path, i), deps))
		}
		return joinErrors(errs)
	default:
		return checkLiteral(n.ID, path, val, s)
	}
}

// checkLiteral rejects literal values of the wrong JSON type.
func checkLiteral(id, path string, v any, s *spec.Schema) error {
	if s == nil || isAny(s) || len(s.Type) == 0 {
		return nil
	}
	var got string
	switch v.(type) {
	case nil:
		return nil
	case string:
		got = "string"
	case bool:
		got = "boolean"
	case int64, int, int32:
		got = "integer"
		if hasType(s, "number") {
			return nil
		}
	case float64:
		got = "number"
	default:
		return nil
	}
	if !hasType(s, got) {
		return errorf(id, path, "expected %s, got %s", typeName(s), got)
	}
	return nil
}
