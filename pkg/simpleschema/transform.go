// Package simpleschema converts kro's SimpleSchema (the compact field syntax of
// an RGD's spec.schema.spec and spec.schema.types) into OpenAPI v3 schemas.
package simpleschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// MaxNestingDepth bounds how deeply objects, arrays and maps may nest below the
// root (custom types count where they are inlined).
const MaxNestingDepth = 16

// RootPath is the path prefix used in errors for fields of spec.schema.spec.
const RootPath = "spec"

// Built-in type names.
const (
	TypeString  = "string"
	TypeInteger = "integer"
	TypeBoolean = "boolean"
	TypeFloat   = "float"
	TypeObject  = "object"
)

// FieldError is a conversion error tied to a field path such as
// "spec.ingress.enabled" or "types.Port".
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

var typeNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ToOpenAPI converts the SimpleSchema map of an RGD's spec.schema.spec, with the custom
// types of spec.schema.types, into an OpenAPI object schema.
func ToOpenAPI(spec map[string]any, types map[string]any) (*apiextv1.JSONSchemaProps, error) {
	c := &converter{
		rawTypes: types,
		resolved: map[string]*customType{},
		visiting: map[string]bool{},
	}
	// Resolve every custom type up front (sorted for stable errors) so a broken
	// type is reported even when no field uses it.
	names := make([]string, 0, len(types))
	for name := range types {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, err := c.resolveType(name); err != nil {
			return nil, err
		}
	}
	schema, _, err := c.buildObject(spec, RootPath, 0)
	if err != nil {
		return nil, err
	}
	return schema, nil
}

// customType is a resolved entry of spec.schema.types.
type customType struct {
	schema   *apiextv1.JSONSchemaProps
	required bool // alias carried required=true
	height   int  // nesting levels inside the type
}

type converter struct {
	rawTypes map[string]any
	resolved map[string]*customType
	visiting map[string]bool
}

func typesPath(name string) string { return "types." + name }

// resolveType builds a custom type on first use. The DFS over type references
// yields dependency order; meeting a type that is still being built is a cycle.
func (c *converter) resolveType(name string) (*customType, error) {
	if t, ok := c.resolved[name]; ok {
		return t, nil
	}
	path := typesPath(name)
	if c.visiting[name] {
		return nil, fieldErr(path, "cyclic dependency in type %s", name)
	}
	if isBuiltin(name) {
		return nil, fieldErr(path, "type name %q collides with a built-in type", name)
	}
	if !typeNameRE.MatchString(name) {
		return nil, fieldErr(path, "invalid type name %q: must match %s", name, typeNameRE)
	}
	c.visiting[name] = true
	defer delete(c.visiting, name)

	t := &customType{}
	switch v := c.rawTypes[name].(type) {
	case map[string]any:
		s, h, err := c.buildObject(v, path, 0)
		if err != nil {
			return nil, err
		}
		t.schema, t.height = s, h
	case string:
		s, req, h, err := c.buildField(v, path, 0)
		if err != nil {
			return nil, err
		}
		t.schema, t.required, t.height = s, req, h
	case nil:
		return nil, fieldErr(path, "missing type definition")
	default:
		return nil, fieldErr(path, "unsupported type definition of kind %T: expected a type string or a map of fields", v)
	}
	c.resolved[name] = t
	return t, nil
}

func isBuiltin(name string) bool {
	switch name {
	case TypeString, TypeInteger, TypeBoolean, TypeFloat, TypeObject:
		return true
	}
	return false
}

// buildObject converts a map of fields into an object schema. It returns the
// number of nesting levels below the object.
func (c *converter) buildObject(fields map[string]any, path string, depth int) (*apiextv1.JSONSchemaProps, int, error) {
	if depth > MaxNestingDepth {
		return nil, 0, fieldErr(path, "exceeds maximum nesting depth of %d", MaxNestingDepth)
	}
	obj := &apiextv1.JSONSchemaProps{Type: "object"}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	height := 0
	for _, key := range keys {
		childPath := path + "." + key
		if strings.TrimSpace(key) == "" {
			return nil, 0, fieldErr(childPath, "empty field name")
		}
		var (
			child    *apiextv1.JSONSchemaProps
			required bool
			h        int
			err      error
		)
		switch v := fields[key].(type) {
		case map[string]any:
			child, h, err = c.buildObject(v, childPath, depth+1)
		case string:
			child, required, h, err = c.buildField(v, childPath, depth+1)
		case nil:
			err = fieldErr(childPath, "missing type")
		default:
			err = fieldErr(childPath, "unsupported value %v of kind %T: expected a type string or a nested map", v, v)
		}
		if err != nil {
			return nil, 0, err
		}
		if obj.Properties == nil {
			obj.Properties = map[string]apiextv1.JSONSchemaProps{}
		}
		obj.Properties[key] = *child
		if required {
			obj.Required = append(obj.Required, key)
		}
		if h+1 > height {
			height = h + 1
		}
	}
	// keys were visited in sorted order, so Required is already sorted.

	// kro's defaulting rule: without default {} the apiserver never descends
	// into an absent object, so child defaults would not apply. Objects with
	// required children must stay absent-able, so they get no default.
	if len(obj.Required) == 0 {
		for _, p := range obj.Properties {
			if p.Default != nil {
				obj.Default = &apiextv1.JSON{Raw: []byte("{}")}
				break
			}
		}
	}
	return obj, height, nil
}

// buildField converts a field definition string ("<type> | markers...").
func (c *converter) buildField(def, path string, depth int) (*apiextv1.JSONSchemaProps, bool, int, error) {
	typ, markers, err := ParseField(def)
	if err != nil {
		return nil, false, 0, fieldErr(path, "%s", err.Error())
	}
	schema, aliasRequired, height, err := c.typeSchema(typ, path, depth)
	if err != nil {
		return nil, false, 0, err
	}
	required, err := applyMarkers(schema, markers, aliasRequired, path)
	if err != nil {
		return nil, false, 0, err
	}
	return schema, required, height, nil
}

// typeSchema resolves a type expression: a built-in, []T, map[string]T or a
// custom type name. The returned schema is a fresh copy the caller may modify.
func (c *converter) typeSchema(typ, path string, depth int) (*apiextv1.JSONSchemaProps, bool, int, error) {
	if depth > MaxNestingDepth {
		return nil, false, 0, fieldErr(path, "exceeds maximum nesting depth of %d", MaxNestingDepth)
	}
	switch typ {
	case TypeString, TypeInteger, TypeBoolean:
		return &apiextv1.JSONSchemaProps{Type: typ}, false, 0, nil
	case TypeFloat:
		return &apiextv1.JSONSchemaProps{Type: "number"}, false, 0, nil
	case TypeObject:
		return &apiextv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTrue()}, false, 0, nil
	}
	if elem, ok := strings.CutPrefix(typ, "[]"); ok {
		if elem == "" {
			return nil, false, 0, fieldErr(path, "missing element type in %q", typ)
		}
		items, _, h, err := c.typeSchema(elem, path, depth+1)
		if err != nil {
			return nil, false, 0, err
		}
		return &apiextv1.JSONSchemaProps{
			Type:  "array",
			Items: &apiextv1.JSONSchemaPropsOrArray{Schema: items},
		}, false, h + 1, nil
	}
	if rest, ok := strings.CutPrefix(typ, "map["); ok {
		key, value, found := strings.Cut(rest, "]")
		if !found {
			return nil, false, 0, fieldErr(path, "invalid map type %q: missing \"]\"", typ)
		}
		if key != TypeString {
			return nil, false, 0, fieldErr(path, "invalid map type %q: key type must be string, got %q", typ, key)
		}
		if value == "" {
			return nil, false, 0, fieldErr(path, "missing value type in %q", typ)
		}
		vs, _, h, err := c.typeSchema(value, path, depth+1)
		if err != nil {
			return nil, false, 0, err
		}
		return &apiextv1.JSONSchemaProps{
			Type:                 "object",
			AdditionalProperties: &apiextv1.JSONSchemaPropsOrBool{Allows: true, Schema: vs},
		}, false, h + 1, nil
	}
	if _, ok := c.rawTypes[typ]; ok && typeNameRE.MatchString(typ) {
		t, err := c.resolveType(typ)
		if err != nil {
			// Report cycles and broken types at the type's own path.
			return nil, false, 0, err
		}
		if depth+t.height > MaxNestingDepth {
			return nil, false, 0, fieldErr(path, "type %s exceeds maximum nesting depth of %d", typ, MaxNestingDepth)
		}
		return t.schema.DeepCopy(), t.required, t.height, nil
	}
	return nil, false, 0, fieldErr(path, "unknown type %q", typ)
}

func ptrTrue() *bool { b := true; return &b }

// applyMarkers applies markers to schema and returns whether the field is
// required in its parent.
func applyMarkers(s *apiextv1.JSONSchemaProps, markers []Marker, required bool, path string) (bool, error) {
	var (
		uniqueItems bool
		listType    string
		mapKeys     []string
	)
	for _, m := range markers {
		v := m.Value
		switch m.Name {
		case MarkerRequired:
			b, err := parseBool(m, path)
			if err != nil {
				return false, err
			}
			required = b
		case MarkerDefault:
			raw, err := defaultJSON(s, v)
			if err != nil {
				return false, fieldErr(path, "invalid default %q: %v", v, err)
			}
			s.Default = &apiextv1.JSON{Raw: raw}
		case MarkerDescription:
			s.Description = v
		case MarkerMinimum, MarkerMaximum:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return false, fieldErr(path, "invalid %s %q: not a number", m.Name, v)
			}
			if m.Name == MarkerMinimum {
				s.Minimum = &f
			} else {
				s.Maximum = &f
			}
		case MarkerEnum:
			enum, err := parseEnum(s.Type, v)
			if err != nil {
				return false, fieldErr(path, "invalid enum %q: %v", v, err)
			}
			s.Enum = enum
		case MarkerImmutable:
			b, err := parseBool(m, path)
			if err != nil {
				return false, err
			}
			if b {
				s.XValidations = append(s.XValidations, apiextv1.ValidationRule{Rule: "self == oldSelf", Message: "field is immutable"})
			}
		case MarkerValidation:
			if strings.TrimSpace(v) == "" {
				return false, fieldErr(path, "validation marker needs a CEL expression")
			}
			s.XValidations = append(s.XValidations, apiextv1.ValidationRule{Rule: v, Message: "validation failed"})
		case MarkerPattern:
			if s.Type != "string" {
				return false, fieldErr(path, "pattern is only valid for string fields, not %s", s.Type)
			}
			if _, err := regexp.Compile(v); err != nil {
				return false, fieldErr(path, "invalid pattern %q: %v", v, err)
			}
			s.Pattern = v
		case MarkerMinLength, MarkerMaxLength:
			if s.Type != "string" {
				return false, fieldErr(path, "%s is only valid for string fields, not %s", m.Name, s.Type)
			}
			n, err := parseCount(m, path)
			if err != nil {
				return false, err
			}
			if m.Name == MarkerMinLength {
				s.MinLength = &n
			} else {
				s.MaxLength = &n
			}
		case MarkerMinItems, MarkerMaxItems:
			if s.Type != "array" {
				return false, fieldErr(path, "%s is only valid for array fields, not %s", m.Name, s.Type)
			}
			n, err := parseCount(m, path)
			if err != nil {
				return false, err
			}
			if m.Name == MarkerMinItems {
				s.MinItems = &n
			} else {
				s.MaxItems = &n
			}
		case MarkerUniqueItems:
			if s.Type != "array" {
				return false, fieldErr(path, "uniqueItems is only valid for array fields, not %s", s.Type)
			}
			b, err := parseBool(m, path)
			if err != nil {
				return false, err
			}
			uniqueItems = b
		case MarkerListType:
			if s.Type != "array" {
				return false, fieldErr(path, "listType is only valid for array fields, not %s", s.Type)
			}
			switch v {
			case "atomic", "set", "map":
				listType = v
			default:
				return false, fieldErr(path, "invalid listType %q: must be atomic, set or map", v)
			}
		case MarkerListMapKey:
			if s.Type != "array" {
				return false, fieldErr(path, "listMapKey is only valid for array fields, not %s", s.Type)
			}
			if v == "" {
				return false, fieldErr(path, "listMapKey needs a field name")
			}
			mapKeys = append(mapKeys, v)
		default:
			return false, fieldErr(path, "unknown marker %q", m.Name)
		}
	}
	// Cross-marker checks run after all markers so their order does not matter.
	if uniqueItems {
		// The apiserver forbids uniqueItems in structural schemas; a set list is
		// how uniqueness is expressed.
		if listType != "" && listType != "set" {
			return false, fieldErr(path, "uniqueItems=true conflicts with listType=%s", listType)
		}
		listType = "set"
	}
	if len(mapKeys) > 0 && listType != "map" {
		return false, fieldErr(path, "listMapKey requires listType=map")
	}
	if listType == "map" && len(mapKeys) == 0 {
		return false, fieldErr(path, "listType=map requires at least one listMapKey")
	}
	if listType != "" {
		lt := listType
		s.XListType = &lt
	}
	if len(mapKeys) > 0 {
		s.XListMapKeys = mapKeys
	}
	return required, nil
}

func parseBool(m Marker, path string) (bool, error) {
	b, err := strconv.ParseBool(m.Value)
	if err != nil {
		return false, fieldErr(path, "invalid %s %q: must be true or false", m.Name, m.Value)
	}
	return b, nil
}

func parseCount(m Marker, path string) (int64, error) {
	n, err := strconv.ParseInt(m.Value, 10, 64)
	if err != nil || n < 0 {
		return 0, fieldErr(path, "invalid %s %q: must be a non-negative integer", m.Name, m.Value)
	}
	return n, nil
}

// defaultJSON renders a default marker value as JSON for the field's type.
func defaultJSON(s *apiextv1.JSONSchemaProps, v string) ([]byte, error) {
	switch s.Type {
	case "string":
		return json.Marshal(v)
	case "integer":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("not an integer")
		}
		return []byte(strconv.FormatInt(n, 10)), nil
	case "number":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("not a number")
		}
		return json.Marshal(f)
	case "boolean":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("not a boolean")
		}
		return json.Marshal(b)
	}
	// Objects, maps and arrays take raw JSON, e.g. default=[80] or default={}.
	dec := json.NewDecoder(strings.NewReader(v))
	dec.UseNumber() // keep big integers exact
	var val any
	if err := dec.Decode(&val); err != nil || dec.More() {
		if err == nil {
			err = fmt.Errorf("trailing data")
		}
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	switch val.(type) {
	case map[string]any:
		if s.Type != "object" {
			return nil, fmt.Errorf("a JSON object does not fit type %s", s.Type)
		}
	case []any:
		if s.Type != "array" {
			return nil, fmt.Errorf("a JSON array does not fit type %s", s.Type)
		}
	default:
		return nil, fmt.Errorf("expected a JSON %s", jsonKind(s.Type))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(v)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func jsonKind(t string) string {
	if t == "array" {
		return "array"
	}
	return "object"
}

func parseEnum(typ, v string) ([]apiextv1.JSON, error) {
	if typ != "string" && typ != "integer" {
		return nil, fmt.Errorf("enum is only valid for string and integer fields, not %s", typ)
	}
	var out []apiextv1.JSON
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("empty enum value")
		}
		var raw []byte
		if typ == "integer" {
			n, err := strconv.ParseInt(part, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%q is not an integer", part)
			}
			raw = []byte(strconv.FormatInt(n, 10))
		} else {
			raw, _ = json.Marshal(part)
		}
		out = append(out, apiextv1.JSON{Raw: raw})
	}
	return out, nil
}
