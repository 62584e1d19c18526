package crd

import (
	"encoding/json"
	"reflect"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// NeedsUpdate reports whether the live CRD differs from the desired one in anything trellis
// manages (spec + managed labels/annotations), ignoring apiserver-defaulted fields, so an
// unchanged RGD never patches the CRD.
//
// Labels and annotations are compared one-way: every desired key must be
// present with the same value; extra keys on the live object (added by users
// or other tools) are left alone.
func NeedsUpdate(live, desired *apiextv1.CustomResourceDefinition) bool {
	if desired == nil {
		return false
	}
	if live == nil {
		return true
	}
	if !containsAll(live.Labels, desired.Labels) || !containsAll(live.Annotations, desired.Annotations) {
		return true
	}
	return !reflect.DeepEqual(normalizedSpec(&live.Spec), normalizedSpec(&desired.Spec))
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// normalizedSpec applies the apiserver's spec defaults to a copy and returns
// it as generic JSON, so raw JSON fields (defaults, enums), empty-vs-nil
// collections and number formatting compare by value.
func normalizedSpec(spec *apiextv1.CustomResourceDefinitionSpec) any {
	s := spec.DeepCopy()
	if s.Names.Singular == "" {
		s.Names.Singular = strings.ToLower(s.Names.Kind)
	}
	if s.Names.ListKind == "" && s.Names.Kind != "" {
		s.Names.ListKind = s.Names.Kind + "List"
	}
	if s.Conversion == nil {
		s.Conversion = &apiextv1.CustomResourceConversion{Strategy: apiextv1.NoneConverter}
	}
	b, err := json.Marshal(s)
	if err != nil {
		// Cannot happen for API types; report a difference to be safe.
		return err.Error()
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return err.Error()
	}
	return out
}
