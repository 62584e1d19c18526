package cel

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// CheckAssignable returns nil if a value of CEL type got may be written
// into a field with OpenAPI schema want. Rules:
//   - want nil, x-kubernetes-preserve-unknown-fields, int-or-string or
//     untyped: anything;
//   - got dyn/any/null/type parameter: anything (checked at run time);
//   - got optional(T): as T (none removes the field);
//   - string accepts string, and timestamp/duration/bytes (rendered as
//     strings); integer accepts int/uint; number accepts int/uint/double;
//   - arrays recurse into items;
//   - objects: maps check their values against additionalProperties
//     (maps into objects with fixed properties are accepted: keys are not
//     known statically); object types from schemas are duck-typed: every
//     field they have must exist in want and be assignable.
//
// Errors read like "expected integer, got string", prefixed with the path
// below the field for nested mismatches.
func CheckAssignable(got *cel.Type, want *spec.Schema) error {
	return checkAssignable(got, want, "", 0)
}

func checkAssignable(got *cel.Type, want *spec.Schema, path string, depth int) error {
	if want == nil || got == nil || depth > maxSchemaDepth {
		return nil
	}
	if isXPreserve(want) || isXIntOrString(want) {
		return nil
	}
	switch got.Kind() {
	case types.DynKind, types.AnyKind, types.NullTypeKind, types.TypeParamKind, types.ErrorKind:
		return nil
	case types.OpaqueKind:
		if got.TypeName() == "optional_type" && len(got.Parameters()) == 1 {
			return checkAssignable(got.Parameters()[0], want, path, depth)
		}
		if got.TypeName() == omitType.TypeName() {
			return nil
		}
	}
	wt := schemaType(want)
	mismatch := func() error {
		return mismatchErr(path, wantName(want), got)
	}
	switch wt {
	case "":
		return nil
	case "string":
		switch got.Kind() {
		case types.StringKind, types.TimestampKind, types.DurationKind, types.BytesKind:
			return nil
		}
		return mismatch()
	case "integer":
		switch got.Kind() {
		case types.IntKind, types.UintKind:
			return nil
		}
		return mismatch()
	case "number":
		switch got.Kind() {
		case types.IntKind, types.UintKind, types.DoubleKind:
			return nil
		}
		return mismatch()
	case "boolean":
		if got.Kind() == types.BoolKind {
			return nil
		}
		return mismatch()
	case "array":
		if got.Kind() != types.ListKind {
			return mismatch()
		}
		if want.Items == nil || want.Items.Schema == nil {
			return nil
		}
		return checkAssignable(got.Parameters()[0], want.Items.Schema, path+"[]", depth+1)
	case "object":
		switch got.Kind() {
		case types.MapKind:
			params := got.Parameters()
			switch params[0].Kind() {
			case types.StringKind, types.DynKind, types.AnyKind, types.TypeParamKind:
			default:
				return fmt.Errorf("%sexpected object with string keys, got %s", pathPrefix(path), typeString(got))
			}
			if ap := want.AdditionalProperties; ap != nil && ap.Schema != nil && len(want.Properties) == 0 {
				return checkAssignable(params[1], ap.Schema, path+".*", depth+1)
			}
			return nil
		case types.StructKind:
			n, ok := lookupObject(got.TypeName())
			if !ok {
				return nil // unknown struct (e.g. protobuf): leave it to the API server
			}
			return checkNodeAssignable(n, want, path, depth)
		}
		return mismatch()
	}
	return nil
}

// checkNodeAssignable duck-types an object type against an object schema.
func checkNodeAssignable(n *node, want *spec.Schema, path string, depth int) error {
	if len(want.Properties) == 0 {
		if ap := want.AdditionalProperties; ap != nil && ap.Schema != nil {
			for _, k := range sortedKeys(n.props) {
				if err := checkAssignable(n.props[k].celType, ap.Schema, path+"."+k, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, k := range sortedKeys(n.props) {
		p, ok := want.Properties[k]
		if !ok {
			return fmt.Errorf("%sfield %q does not exist in the target schema", pathPrefix(path), k)
		}
		if err := checkAssignable(n.props[k].celType, &p, path+"."+k, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func pathPrefix(path string) string {
	if path == "" {
		return ""
	}
	return strings.TrimPrefix(path, ".") + ": "
}

func mismatchErr(path, want string, got *cel.Type) error {
	return fmt.Errorf("%sexpected %s, got %s", pathPrefix(path), want, typeString(got))
}

func wantName(s *spec.Schema) string {
	t := schemaType(s)
	if t == "" {
		return "any"
	}
	return t
}

// typeString renders a CEL type for messages, hiding generated type names.
func typeString(t *cel.Type) string {
	if t == nil {
		return "<nil>"
	}
	switch t.Kind() {
	case types.StructKind:
		if _, ok := lookupObject(t.TypeName()); ok && strings.HasPrefix(t.TypeName(), "__type_") {
			return "object"
		}
		return t.TypeName()
	case types.ListKind:
		return "list(" + typeString(t.Parameters()[0]) + ")"
	case types.MapKind:
		return "map(" + typeString(t.Parameters()[0]) + ", " + typeString(t.Parameters()[1]) + ")"
	case types.OpaqueKind:
		if len(t.Parameters()) > 0 {
			ps := make([]string, len(t.Parameters()))
			for i, p := range t.Parameters() {
				ps[i] = typeString(p)
			}
			return t.TypeName() + "(" + strings.Join(ps, ", ") + ")"
		}
	}
	return t.String()
}

// InferSchema returns the OpenAPI schema for values of CEL type t (used for
// generated status fields): bool→boolean, int/uint→integer, double→number,
// string→string, bytes→string/byte, timestamp→string/date-time,
// duration→string/duration, lists/maps/schema object types recursively,
// optional(T)→T, kro.run.Condition→its object schema, and anything else
// (dyn, null, type parameters) → x-kubernetes-preserve-unknown-fields.
func InferSchema(t *cel.Type) *apiextv1.JSONSchemaProps {
	return inferSchema(t, 0)
}

func inferSchema(t *cel.Type, depth int) *apiextv1.JSONSchemaProps {
	if t == nil || depth > maxSchemaDepth {
		return preserveUnknown()
	}
	switch t.Kind() {
	case types.BoolKind:
		return &apiextv1.JSONSchemaProps{Type: "boolean"}
	case types.IntKind, types.UintKind:
		return &apiextv1.JSONSchemaProps{Type: "integer"}
	case types.DoubleKind:
		return &apiextv1.JSONSchemaProps{Type: "number"}
	case types.StringKind:
		return &apiextv1.JSONSchemaProps{Type: "string"}
	case types.BytesKind:
		return &apiextv1.JSONSchemaProps{Type: "string", Format: "byte"}
	case types.TimestampKind:
		return &apiextv1.JSONSchemaProps{Type: "string", Format: "date-time"}
	case types.DurationKind:
		return &apiextv1.JSONSchemaProps{Type: "string", Format: "duration"}
	case types.ListKind:
		return &apiextv1.JSONSchemaProps{Type: "array", Items: &apiextv1.JSONSchemaPropsOrArray{Schema: inferSchema(t.Parameters()[0], depth+1)}}
	case types.MapKind:
		return &apiextv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextv1.JSONSchemaPropsOrBool{Allows: true, Schema: inferSchema(t.Parameters()[1], depth+1)}}
	case types.StructKind:
		if n, ok := lookupObject(t.TypeName()); ok {
			return nodeSchema(n, depth)
		}
	case types.OpaqueKind:
		if t.TypeName() == "optional_type" && len(t.Parameters()) == 1 {
			return inferSchema(t.Parameters()[0], depth)
		}
	}
	return preserveUnknown()
}

func preserveUnknown() *apiextv1.JSONSchemaProps {
	yes := true
	return &apiextv1.JSONSchemaProps{XPreserveUnknownFields: &yes}
}

func nodeSchema(n *node, depth int) *apiextv1.JSONSchemaProps {
	if depth > maxSchemaDepth {
		return preserveUnknown()
	}
	switch n.kind {
	case kObject:
		props := make(map[string]apiextv1.JSONSchemaProps, len(n.props))
		for k, c := range n.props {
			props[k] = *nodeSchema(c, depth+1)
		}
		return &apiextv1.JSONSchemaProps{Type: "object", Properties: props}
	case kMap:
		return &apiextv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextv1.JSONSchemaPropsOrBool{Allows: true, Schema: nodeSchema(n.elem, depth+1)}}
	case kList:
		return &apiextv1.JSONSchemaProps{Type: "array", Items: &apiextv1.JSONSchemaPropsOrArray{Schema: nodeSchema(n.elem, depth+1)}}
	case kDyn:
		return preserveUnknown()
	}
	return inferSchema(n.celType, depth)
}

// SchemaFromCRD converts an apiextensions JSONSchemaProps to a kube-openapi
// spec.Schema (both share the OpenAPI v3 JSON form, including x-kubernetes-*
// extensions).
func SchemaFromCRD(p *apiextv1.JSONSchemaProps) (*spec.Schema, error) {
	if p == nil {
		return nil, nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding schema: %w", err)
	}
	s := new(spec.Schema)
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("decoding schema: %w", err)
	}
	return s, nil
}
