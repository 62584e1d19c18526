// Package crdgen generates the CustomResourceDefinitions of trellis's
// ACK-compatible kinds from their Go types (api/ack/...). The generated YAML
// is committed under config/crd/ack and embedded from there; a test checks
// that it is up to date (go test ./pkg/ack/crdgen -update rewrites it).
//
// Mapping: Go strings, integers and booleans become string, integer
// (int64) and boolean; pointers are followed; slices become arrays and
// maps objects with additionalProperties; metav1.Time is a date-time string.
// Struct tag `ack:"required"` adds the field to its parent's required list and
// `ack:"immutable"` adds the CEL rule self == oldSelf (as ACK does), and
// `ack:"extension"` marks a trellis field that ACK's CRD does not have.
// `ack:"unimplemented=<object|array|string|boolean|integer>"` declares a field
// of ACK's API that trellis does not implement: objects (and array items)
// preserve unknown fields, so the API server keeps what a manifest sets
// there and the controller reports it. Other unknown fields are pruned, as
// with ACK's CRDs.
package crdgen

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	dynamodbv1alpha1 "github.com/trellis-dev/trellis/api/ack/dynamodb/v1alpha1"
	s3v1alpha1 "github.com/trellis-dev/trellis/api/ack/s3/v1alpha1"
)

// Kind describes one generated CRD.
type Kind struct {
	Group    string
	Kind     string
	Plural   string
	Singular string
	// Object is a pointer to the Go type of the kind, e.g. &Bucket{}.
	Object         any
	PrinterColumns []apiextv1.CustomResourceColumnDefinition
}

// FileName is the name of the generated YAML file.
func (k Kind) FileName() string { return k.Group + "_" + k.Plural + ".yaml" }

// CRDName is <plural>.<group>.
func (k Kind) CRDName() string { return k.Plural + "." + k.Group }

var syncedColumn = apiextv1.CustomResourceColumnDefinition{
	Name: "Synced", Type: "string", JSONPath: `.status.conditions[?(@.type=="ACK.ResourceSynced")].status`,
}
var ageColumn = apiextv1.CustomResourceColumnDefinition{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"}

// Kinds lists every ACK-compatible kind trellis implements.
func Kinds() []Kind {
	return []Kind{
		{
			Group: s3v1alpha1.GroupVersion.Group, Kind: "Bucket", Plural: "buckets", Singular: "bucket",
			Object: &s3v1alpha1.Bucket{},
			PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
				{Name: "ARN", Type: "string", JSONPath: ".status.ackResourceMetadata.arn", Priority: 1},
				syncedColumn, ageColumn,
			},
		},
		{
			Group: dynamodbv1alpha1.GroupVersion.Group, Kind: "Table", Plural: "tables", Singular: "table",
			Object: &dynamodbv1alpha1.Table{},
			PrinterColumns: []apiextv1.CustomResourceColumnDefinition{
				{Name: "ARN", Type: "string", JSONPath: ".status.ackResourceMetadata.arn", Priority: 1},
				{Name: "CLASS", Type: "string", JSONPath: ".spec.tableClass"},
				{Name: "STATUS", Type: "string", JSONPath: ".status.tableStatus"},
				syncedColumn, ageColumn,
			},
		},
	}
}

// CRD builds the CustomResourceDefinition of k.
func CRD(k Kind) (*apiextv1.CustomResourceDefinition, error) {
	t := reflect.TypeOf(k.Object).Elem()
	specF, ok := t.FieldByName("Spec")
	if !ok {
		return nil, fmt.Errorf("%s has no Spec field", t)
	}
	statusF, ok := t.FieldByName("Status")
	if !ok {
		return nil, fmt.Errorf("%s has no Status field", t)
	}
	spec, err := schemaFor(specF.Type)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	status, err := schemaFor(statusF.Type)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	root := apiextv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]apiextv1.JSONSchemaProps{
			"apiVersion": {Type: "string"},
			"kind":       {Type: "string"},
			"metadata":   {Type: "object"},
			"spec":       *spec,
			"status":     *status,
		},
	}
	return &apiextv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: k.CRDName(), Labels: map[string]string{"app.kubernetes.io/managed-by": "trellis"}},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: k.Group,
			Names: apiextv1.CustomResourceDefinitionNames{
				Kind: k.Kind, ListKind: k.Kind + "List", Plural: k.Plural, Singular: k.Singular,
			},
			Scope: apiextv1.NamespaceScoped,
			Versions: []apiextv1.CustomResourceDefinitionVersion{{
				Name: "v1alpha1", Served: true, Storage: true,
				Schema:                   &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &root},
				Subresources:             &apiextv1.CustomResourceSubresources{Status: &apiextv1.CustomResourceSubresourceStatus{}},
				AdditionalPrinterColumns: k.PrinterColumns,
			}},
		},
	}, nil
}

// YAML renders the CRD of k as committed under config/crd/ack.
func YAML(k Kind) ([]byte, error) {
	crd, err := CRD(k)
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(crd)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	if md, ok := m["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Generated by pkg/ack/crdgen from api/ack. DO NOT EDIT.\n---\n"), out...), nil
}

var timeType = reflect.TypeOf(metav1.Time{})

func schemaFor(t reflect.Type) (*apiextv1.JSONSchemaProps, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == timeType {
		return &apiextv1.JSONSchemaProps{Type: "string", Format: "date-time"}, nil
	}
	switch t.Kind() {
	case reflect.String:
		return &apiextv1.JSONSchemaProps{Type: "string"}, nil
	case reflect.Bool:
		return &apiextv1.JSONSchemaProps{Type: "boolean"}, nil
	case reflect.Int, reflect.Int32, reflect.Int64:
		return &apiextv1.JSONSchemaProps{Type: "integer", Format: "int64"}, nil
	case reflect.Slice:
		items, err := schemaFor(t.Elem())
		if err != nil {
			return nil, err
		}
		return &apiextv1.JSONSchemaProps{Type: "array", Items: &apiextv1.JSONSchemaPropsOrArray{Schema: items}}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key %s is not a string", t.Key())
		}
		v, err := schemaFor(t.Elem())
		if err != nil {
			return nil, err
		}
		return &apiextv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextv1.JSONSchemaPropsOrBool{Allows: true, Schema: v}}, nil
	case reflect.Struct:
		s := &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{}}
		if err := addFields(s, t); err != nil {
			return nil, err
		}
		sort.Strings(s.Required)
		return s, nil
	}
	return nil, fmt.Errorf("unsupported type %s", t)
}

func addFields(s *apiextv1.JSONSchemaProps, t reflect.Type) error {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, inline := JSONName(f)
		if name == "-" || !f.IsExported() {
			continue
		}
		if inline {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if err := addFields(s, ft); err != nil {
				return err
			}
			continue
		}
		opts := strings.Split(f.Tag.Get("ack"), ",")
		var fs *apiextv1.JSONSchemaProps
		var err error
		if typ, ok := Unimplemented(f); ok {
			fs, err = unimplementedSchema(typ)
		} else {
			fs, err = schemaFor(f.Type)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, opt := range opts {
			if strings.HasPrefix(opt, "unimplemented=") {
				continue
			}
			switch opt {
			case "extension": // a trellis field ACK does not have; see the compatibility test
			case "required":
				s.Required = append(s.Required, name)
			case "immutable":
				fs.XValidations = apiextv1.ValidationRules{{Rule: "self == oldSelf", Message: "Value is immutable once set"}}
			case "":
			default:
				return fmt.Errorf("%s: unknown ack tag option %q", name, opt)
			}
		}
		s.Properties[name] = *fs
	}
	return nil
}

// JSONName returns the JSON name of a struct field, and whether the field is
// an embedded struct whose fields are inlined.
func JSONName(f reflect.StructField) (string, bool) {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	if name == "" && f.Anonymous {
		return "", true
	}
	if name == "" {
		name = f.Name
	}
	return name, false
}

func ptr[T any](v T) *T { return &v }

// Unimplemented reports whether f is a declared but unimplemented ACK
// field, and its JSON type.
func Unimplemented(f reflect.StructField) (string, bool) {
	for _, opt := range strings.Split(f.Tag.Get("ack"), ",") {
		if typ, ok := strings.CutPrefix(opt, "unimplemented="); ok {
			return typ, true
		}
	}
	return "", false
}

func unimplementedSchema(typ string) (*apiextv1.JSONSchemaProps, error) {
	switch typ {
	case "object":
		return &apiextv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}, nil
	case "array":
		return &apiextv1.JSONSchemaProps{Type: "array", Items: &apiextv1.JSONSchemaPropsOrArray{
			Schema: &apiextv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}}}, nil
	case "string", "boolean":
		return &apiextv1.JSONSchemaProps{Type: typ}, nil
	case "integer":
		return &apiextv1.JSONSchemaProps{Type: typ, Format: "int64"}, nil
	}
	return nil, fmt.Errorf("unknown unimplemented type %q", typ)
}
