package graph

import (
	"strings"

	"k8s.io/kube-openapi/pkg/validation/spec"
)

func isAny(s *spec.Schema) bool {
	if s == nil {
		return true
	}
	if b, _ := s.Extensions.GetBool("x-kubernetes-preserve-unknown-fields"); b {
		return true
	}
	if b, _ := s.Extensions.GetBool("x-kubernetes-int-or-string"); b {
		return true
	}
	return len(s.Type) == 0 && len(s.Properties) == 0 && s.AdditionalProperties == nil && s.Items == nil
}

func hasType(s *spec.Schema, t string) bool {
	for _, x := range s.Type {
		if x == t {
			return true
		}
	}
	return false
}

func typeName(s *spec.Schema) string {
	if len(s.Type) == 0 {
		return "any"
	}
	return strings.Join(s.Type, "|")
}

// propertySchema returns the schema of field k of an object schema; ok is
// false when the schema does not allow the field. A nil schema means any.
func propertySchema(s *spec.Schema, k string) (*spec.Schema, bool) {
	if s == nil {
		return nil, true
	}
	if p, ok := s.Properties[k]; ok {
		return &p, true
	}
	if s.AdditionalProperties != nil {
		if s.AdditionalProperties.Schema != nil {
			return s.AdditionalProperties.Schema, true
		}
		return nil, s.AdditionalProperties.Allows
	}
	if isAny(s) || (len(s.Properties) == 0 && hasType(s, "object")) {
		return nil, true
	}
	return nil, false
}

// objectMetaSchema describes the ObjectMeta fields templates and expressions
// use; CRD schemas only say `metadata: {type: object}`.
var objectMetaSchema = func() spec.Schema {
	str := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}
	strMap := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, AdditionalProperties: &spec.SchemaOrBool{Allows: true, Schema: &str}}}
	intS := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"integer"}, Format: "int64"}}
	strList := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{Schema: &str}}}
	anyList := spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"}, Items: &spec.SchemaOrArray{Schema: &spec.Schema{
		SchemaProps: spec.SchemaProps{Type: []string{"object"}}, VendorExtensible: spec.VendorExtensible{Extensions: spec.Extensions{"x-kubernetes-preserve-unknown-fields": true}}}}}}
	return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: map[string]spec.Schema{
		"name": str, "generateName": str, "namespace": str, "uid": str, "resourceVersion": str,
		"generation": intS, "creationTimestamp": str, "deletionTimestamp": str,
		"labels": strMap, "annotations": strMap, "finalizers": strList,
		"ownerReferences": anyList, "managedFields": anyList,
	}}}
}()

// withObjectMeta fills in ObjectMeta where a schema leaves metadata open.
func withObjectMeta(s *spec.Schema) *spec.Schema {
	if s == nil || s.Properties == nil {
		return s
	}
	if md, ok := s.Properties["metadata"]; ok && len(md.Properties) > 0 {
		return s
	}
	out := *s
	out.Properties = make(map[string]spec.Schema, len(s.Properties))
	for k, v := range s.Properties {
		out.Properties[k] = v
	}
	out.Properties["metadata"] = objectMetaSchema
	return &out
}
