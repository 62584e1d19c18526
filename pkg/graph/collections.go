package graph

import (
	"fmt"

	celgo "github.com/google/cel-go/cel"
	celtypes "github.com/google/cel-go/common/types"

	"github.com/trellis-dev/trellis/pkg/cel"
)

// compileForEach compiles the dimensions of a collection and returns the
// environment its template is compiled in: the graph's variables plus one
// iterator per dimension, typed with the element type of its list.
func (b *builder) compileForEach(n *pendingNode, deps map[string]bool) (*cel.Env, error) {
	vars := append([]cel.Variable{}, b.vars...)
	seen := map[string]bool{}
	for i, dim := range n.res.ForEach {
		path := fmt.Sprintf("forEach[%d]", i)
		if len(dim) != 1 {
			return nil, errorf(n.ID, path, "each dimension must have exactly one iterator, has %d", len(dim))
		}
		for name, raw := range dim {
			switch {
			case !idPattern.MatchString(name):
				return nil, errorf(n.ID, path, "iterator %q must be lowerCamelCase", name)
			case reserved[name]:
				return nil, errorf(n.ID, path, "iterator %q is a reserved word", name)
			case b.ids[name]:
				return nil, errorf(n.ID, path, "iterator %q has the name of a resource", name)
			case seen[name]:
				return nil, errorf(n.ID, path, "duplicate iterator %q", name)
			}
			seen[name] = true
			p, err := b.compileCondition0(n.ID, path+"."+name, raw)
			if err != nil {
				return nil, err
			}
			if p.OutputType.Kind() != celtypes.ListKind && !p.OutputType.IsExactType(celgo.DynType) {
				return nil, errorf(n.ID, path+"."+name, "must return a list, returns %s", p.OutputType)
			}
			elem := celgo.DynType
			if params := p.OutputType.Parameters(); len(params) == 1 {
				elem = params[0]
			}
			for ref := range p.References {
				if ref == n.ID {
					return nil, errorf(n.ID, path, "self references are not allowed")
				}
				if b.ids[ref] {
					deps[ref] = true
				}
			}
			n.ForEach = append(n.ForEach, &Dimension{Name: name, Program: p})
			vars = append(vars, cel.Variable{Name: name, Type: elem})
		}
	}
	env, err := cel.NewEnv(vars, cel.EnvOptions{Omit: b.opts.Omit})
	if err != nil {
		return nil, errorf(n.ID, "forEach", "%v", err)
	}
	return env, nil
}

// compileCondition0 compiles a standalone expression of any type.
func (b *builder) compileCondition0(id, path, raw string) (*cel.Program, error) {
	return b.compileCondition0With(b.env, id, path, raw)
}

func (b *builder) compileCondition0With(env *cel.Env, id, path, raw string) (*cel.Program, error) {
	expr, ok, err := cel.Standalone(raw)
	if err != nil {
		return nil, errorf(id, path, "%v", err)
	}
	if !ok {
		return nil, errorf(id, path, "must be a single ${...} expression, got %q", raw)
	}
	p, err := env.Compile(expr)
	if err != nil {
		return nil, errorf(id, path, "%v", err)
	}
	return p, nil
}

// checkIteratorsInIdentity: every iterator must shape the item's name (or
// namespace), or the items of a collection would collide.
func checkIteratorsInIdentity(n *pendingNode) error {
	md := n.Template["metadata"].(map[string]any)
	for _, key := range []string{"name", "namespace"} {
		s, _ := md[key].(string)
		if f, ok := n.Fields[s]; ok {
			for _, p := range f.Parts {
				if p.Program != nil && p.Program.UsesOmit {
					return errorf(n.ID, "template.metadata."+key, "omit() cannot remove the object's %s", key)
				}
			}
		}
	}
	if len(n.ForEach) == 0 {
		return nil
	}
	used := map[string]bool{}
	for _, key := range []string{"name", "namespace"} {
		s, _ := md[key].(string)
		if f, ok := n.Fields[s]; ok {
			for _, p := range f.Parts {
				if p.Program != nil {
					for ref := range p.Program.References {
						used[ref] = true
					}
				}
			}
		}
	}
	for _, d := range n.ForEach {
		if !used[d.Name] {
			return errorf(n.ID, "template.metadata.name", "iterator %q must be used in metadata.name or metadata.namespace so that items are distinct", d.Name)
		}
	}
	return nil
}

// compileConditions compiles status.conditions: a list of standalone
// expressions, each a runtime.newCondition(...) or a list of them.
func (b *builder) compileConditions(v any, path string) error {
	list, ok := v.([]any)
	if !ok {
		return errorf("", path, "must be a list of ${runtime.newCondition(...)} expressions")
	}
	env, err := cel.NewEnv(b.vars, cel.EnvOptions{Runtime: true})
	if err != nil {
		return errorf("", path, "%v", err)
	}
	for i, item := range list {
		raw, ok := item.(string)
		if !ok {
			return errorf("", fmt.Sprintf("%s[%d]", path, i), "must be a ${...} expression")
		}
		p, err := b.compileCondition0With(env, "", fmt.Sprintf("%s[%d]", path, i), raw)
		if err != nil {
			return err
		}
		b.graph.Conditions = append(b.graph.Conditions, p)
	}
	return nil
}
