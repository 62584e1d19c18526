package cel

import (
	"sort"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// provider resolves the object types derived from variable schemas (and
// kro.run.Condition) and defers everything else to the base provider.
type provider struct {
	base    types.Provider
	adapter types.Adapter
	objects map[string]*node
}

func newProvider(base types.Provider) *provider {
	p := &provider{base: base, objects: map[string]*node{ConditionTypeName: condNode}}
	if a, ok := base.(types.Adapter); ok {
		p.adapter = a
	} else {
		p.adapter = types.DefaultTypeAdapter
	}
	return p
}

// add registers every object type reachable from n.
func (p *provider) add(n *node) {
	switch n.kind {
	case kObject:
		if _, ok := p.objects[n.typeName]; ok {
			return
		}
		p.objects[n.typeName] = n
		for _, c := range n.props {
			p.add(c)
		}
	case kList, kMap:
		p.add(n.elem)
	}
}

func (p *provider) EnumValue(name string) ref.Val { return p.base.EnumValue(name) }

func (p *provider) FindIdent(name string) (ref.Val, bool) { return p.base.FindIdent(name) }

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if n, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(n.celType), true
	}
	return p.base.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if n, ok := p.objects[name]; ok {
		names := make([]string, 0, len(n.props))
		for k := range n.props {
			names = append(names, k)
		}
		sort.Strings(names)
		return names, true
	}
	return p.base.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if n, ok := p.objects[name]; ok {
		c, _, ok := n.fieldNode(field)
		if !ok {
			return nil, false
		}
		return &types.FieldType{Type: c.celType}, true
	}
	return p.base.FindStructFieldType(name, field)
}

func (p *provider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if name == ConditionTypeName {
		return newConditionValue(fields)
	}
	if _, ok := p.objects[name]; ok {
		return types.NewErr("cannot construct objects of schema type %s", name)
	}
	return p.base.NewValue(name, fields)
}

func (p *provider) NativeToValue(v any) ref.Val { return p.adapter.NativeToValue(v) }
