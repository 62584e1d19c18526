// Package crd builds the instance CustomResourceDefinition generated for an
// RGD and decides whether a live CRD must be updated and whether an update is
// breaking. It is pure: no client.
package crd

import (
	"strings"

	"github.com/gobuffalo/flect"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultGroup is the API group of instance CRDs when the RGD names none.
const DefaultGroup = "kro.run"

// Input describes the instance CRD of one RGD.
type Input struct {
	Group, Version, Kind string                    // group defaults to "kro.run" (caller passes it resolved)
	Scope                apiextv1.ResourceScope    // default Namespaced
	Spec                 *apiextv1.JSONSchemaProps // from simpleschema
	// Status holds the inferred user status fields (may be nil); state and
	// conditions are added unless the user defines the same key.
	Status                 *apiextv1.JSONSchemaProps
	ShortNames, Categories []string
	// PrinterColumns replaces the defaults when non-empty.
	PrinterColumns      []apiextv1.CustomResourceColumnDefinition
	Labels, Annotations map[string]string // put on the CRD object (caller adds kro.run/* labels)
}

// Plural returns the resource plural of kind, as kro derives it.
func Plural(kind string) string {
	return flect.Pluralize(strings.ToLower(kind))
}

// Name returns the CRD name <plural>.<group>.
func Name(kind, group string) string {
	if group == "" {
		group = DefaultGroup
	}
	return Plural(kind) + "." + group
}

// DefaultPrinterColumns returns the columns every instance CRD gets unless the
// RGD sets additionalPrinterColumns.
func DefaultPrinterColumns() []apiextv1.CustomResourceColumnDefinition {
	return []apiextv1.CustomResourceColumnDefinition{
		{Name: "State", Type: "string", JSONPath: ".status.state", Description: "The state of a ResourceGraphDefinition instance"},
		{Name: "Ready", Type: "string", JSONPath: `.status.conditions[?(@.type=="Ready")].status`, Description: "Whether a ResourceGraphDefinition instance is ready"},
		{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp", Description: "Age of the resource"},
	}
}

// defaultStatusProperties are the status fields the instance controller writes.
func defaultStatusProperties() map[string]apiextv1.JSONSchemaProps {
	str := apiextv1.JSONSchemaProps{Type: "string"}
	return map[string]apiextv1.JSONSchemaProps{
		"state": str,
		// trellis: the graph revision the instance was last reconciled with.
		"graphRevision": {Type: "integer", Description: "The graph revision of the ResourceGraphDefinition this instance was last reconciled with"},
		"conditions": {
			Type: "array",
			Items: &apiextv1.JSONSchemaPropsOrArray{Schema: &apiextv1.JSONSchemaProps{
				Type: "object",
				Properties: map[string]apiextv1.JSONSchemaProps{
					"type":               str,
					"status":             str,
					"reason":             str,
					"message":            str,
					"lastTransitionTime": str,
					"observedGeneration": {Type: "integer"},
				},
			}},
		},
	}
}

// StatusSchema returns the status schema: the user's fields plus state and
// conditions unless the user already defines those keys.
func StatusSchema(user *apiextv1.JSONSchemaProps) *apiextv1.JSONSchemaProps {
	var s *apiextv1.JSONSchemaProps
	if user != nil {
		s = user.DeepCopy()
	} else {
		s = &apiextv1.JSONSchemaProps{}
	}
	s.Type = "object"
	if s.Properties == nil {
		s.Properties = map[string]apiextv1.JSONSchemaProps{}
	}
	for k, v := range defaultStatusProperties() {
		if _, ok := s.Properties[k]; !ok {
			s.Properties[k] = v
		}
	}
	return s
}

// Build returns the complete instance CRD. It is deterministic, so building
// twice from the same input yields semantically equal objects.
func Build(in Input) *apiextv1.CustomResourceDefinition {
	group := in.Group
	if group == "" {
		group = DefaultGroup
	}
	scope := in.Scope
	if scope == "" {
		scope = apiextv1.NamespaceScoped
	}
	var spec *apiextv1.JSONSchemaProps
	if in.Spec != nil {
		spec = in.Spec.DeepCopy()
	} else {
		spec = &apiextv1.JSONSchemaProps{Type: "object"}
	}
	columns := DefaultPrinterColumns()
	if len(in.PrinterColumns) > 0 {
		columns = make([]apiextv1.CustomResourceColumnDefinition, len(in.PrinterColumns))
		copy(columns, in.PrinterColumns)
	}
	plural := Plural(in.Kind)

	return &apiextv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{
			APIVersion: apiextv1.SchemeGroupVersion.String(),
			Kind:       "CustomResourceDefinition",
		},
		ObjectMeta: metav1.ObjectMeta{
			Name:        plural + "." + group,
			Labels:      copyMap(in.Labels),
			Annotations: copyMap(in.Annotations),
		},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: group,
			Names: apiextv1.CustomResourceDefinitionNames{
				Kind:       in.Kind,
				ListKind:   in.Kind + "List",
				Plural:     plural,
				Singular:   strings.ToLower(in.Kind),
				ShortNames: copySlice(in.ShortNames),
				Categories: copySlice(in.Categories),
			},
			Scope: scope,
			Versions: []apiextv1.CustomResourceDefinitionVersion{{
				Name:    in.Version,
				Served:  true,
				Storage: true,
				Schema: &apiextv1.CustomResourceValidation{
					OpenAPIV3Schema: &apiextv1.JSONSchemaProps{
						Type: "object",
						Properties: map[string]apiextv1.JSONSchemaProps{
							"apiVersion": {Type: "string"},
							"kind":       {Type: "string"},
							"metadata":   {Type: "object"},
							"spec":       *spec,
							"status":     *StatusSchema(in.Status),
						},
					},
				},
				Subresources:             &apiextv1.CustomResourceSubresources{Status: &apiextv1.CustomResourceSubresourceStatus{}},
				AdditionalPrinterColumns: columns,
			}},
			// Set explicitly (the apiserver would default it) so the desired
			// object already equals what the apiserver stores.
			Conversion: &apiextv1.CustomResourceConversion{Strategy: apiextv1.NoneConverter},
		},
	}
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func copySlice(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}
