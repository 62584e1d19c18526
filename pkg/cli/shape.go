package cli

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	crds "github.com/trellis-dev/trellis/config/crd"
)

// objectSchema is a CRD version's schema, ready for pruning and validation.
type objectSchema struct {
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
}

func newObjectSchema(props *extv1.JSONSchemaProps) (*objectSchema, error) {
	internal := &apiextensions.JSONSchemaProps{}
	if err := extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(props, internal, nil); err != nil {
		return nil, err
	}
	ss, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, err
	}
	v, _, err := apiservervalidation.NewSchemaValidator(internal)
	if err != nil {
		return nil, err
	}
	return &objectSchema{structural: ss, validator: v}, nil
}

// check reports what the apiserver would object to: unknown fields (which
// kubectl's strict field validation rejects) and schema violations.
func (s *objectSchema) check(obj map[string]any) (unknown []string, invalid []*field.Error) {
	cp := runtime.DeepCopyJSON(obj)
	opts := structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}
	unknown = structuralpruning.PruneWithOptions(cp, s.structural, true, opts)
	structuraldefaulting.Default(cp, s.structural)
	for _, e := range apiservervalidation.ValidateCustomResource(nil, cp, s.validator) {
		invalid = append(invalid, e)
	}
	return unknown, invalid
}

var rgdSchema = sync.OnceValues(func() (*objectSchema, error) {
	c, err := crds.ResourceGraphDefinition()
	if err != nil {
		return nil, err
	}
	for _, v := range c.Spec.Versions {
		if v.Storage && v.Schema != nil {
			return newObjectSchema(v.Schema.OpenAPIV3Schema)
		}
	}
	return nil, fmt.Errorf("the ResourceGraphDefinition CRD has no schema")
})

// checkShape checks a document against a schema and positions what is
// wrong. prefix is prepended to displayed paths.
func checkShape(doc *Document, s *objectSchema) []Diagnostic {
	unknown, invalid := s.check(doc.Object)
	var out []Diagnostic
	for _, p := range unknown {
		n, key, _ := Locate(doc.Root, p)
		if key != nil {
			n = key
		}
		parent, name := p, p
		if i := strings.LastIndex(p, "."); i >= 0 {
			parent, name = p[:i], p[i+1:]
		} else {
			parent = ""
		}
		msg := fmt.Sprintf("unknown field %q", name)
		out = append(out, Diagnostic{Pos: Position{File: doc.File, Line: n.Line, Col: n.Column}, Path: parent, Msg: msg})
	}
	for _, e := range invalid {
		path := strings.TrimPrefix(e.Field, "<nil>.")
		n, key, _ := Locate(doc.Root, path)
		if n.Kind != yaml.ScalarNode && key != nil {
			n = key
		}
		msg := e.ErrorBody()
		out = append(out, Diagnostic{Pos: Position{File: doc.File, Line: n.Line, Col: n.Column}, Path: path, Msg: msg})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Pos.Line != out[j].Pos.Line {
			return out[i].Pos.Line < out[j].Pos.Line
		}
		return out[i].Pos.Col < out[j].Pos.Col
	})
	return out
}
