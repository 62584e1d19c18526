package graph

import (
	"sort"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/trellis-dev/trellis/pkg/cel"
)

// compileStatus compiles the status projection and infers its schema.
func (b *builder) compileStatus() (*extv1.JSONSchemaProps, error) {
	raw, err := decodeMap(b.rgd.Spec.Schema.Status.Raw)
	if err != nil {
		return nil, errorf("", "spec.schema.status", "%v", err)
	}
	if len(raw) == 0 {
		return nil, nil
	}
	root, props, err := b.compileStatusValue(raw, "spec.schema.status")
	if err != nil {
		return nil, err
	}
	if len(root.Children) > 0 {
		b.graph.Status = root
	}
	return props, nil
}

func (b *builder) compileStatusValue(v any, path string) (*StatusField, *extv1.JSONSchemaProps, error) {
	switch val := v.(type) {
	case map[string]any:
		sf := &StatusField{Children: map[string]*StatusField{}}
		props := &extv1.JSONSchemaProps{Type: "object", Properties: map[string]extv1.JSONSchemaProps{}}
		for k, child := range val {
			if path == "spec.schema.status" && k == "state" {
				return nil, nil, errorf("", path+"."+k, "%q is managed by trellis and cannot be projected", k)
			}
			if path == "spec.schema.status" && k == "conditions" {
				if err := b.compileConditions(child, path+"."+k); err != nil {
					return nil, nil, err
				}
				continue
			}
			c, p, err := b.compileStatusValue(child, path+"."+k)
			if err != nil {
				return nil, nil, err
			}
			sf.Children[k] = c
			props.Properties[k] = *p
		}
		return sf, props, nil
	case string:
		if !cel.HasExpression(val) {
			return nil, nil, errorf("", path, "status fields must be CEL expressions, got literal %q", val)
		}
		deps := map[string]bool{}
		f, err := b.compileString(b.env, "", path, val, nil, deps)
		if err != nil {
			return nil, nil, err
		}
		sf := &StatusField{Leaf: f}
		for d := range deps {
			sf.Dependencies = append(sf.Dependencies, d)
		}
		sort.Strings(sf.Dependencies)
		props := &extv1.JSONSchemaProps{Type: "string"}
		if f.Standalone {
			props = cel.InferSchema(f.Parts[0].Program.OutputType)
		}
		return sf, props, nil
	default:
		return nil, nil, errorf("", path, "status fields must be CEL expressions or objects of them, got %T", v)
	}
}
