package crd

import (
	"encoding/json"
	"fmt"
	"sort"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// Breaking lists the breaking changes from old to new (kro's compat rules: property removed,
// type changed, required added, enum restricted, pattern changed/added, required-default
// removed, min/max tightened, version renamed, served→false, status subresource removed),
// each as a human-readable string naming the path.
//
// A change is breaking when objects valid under old may be rejected (or lose
// data) under new. Loosening changes (new optional fields, wider bounds, more
// enum values) are not reported. Output order is deterministic.
func Breaking(old, new *apiextv1.CustomResourceDefinition) []string {
	if old == nil || new == nil {
		return nil
	}
	var out []string
	newByName := map[string]*apiextv1.CustomResourceDefinitionVersion{}
	for i := range new.Spec.Versions {
		newByName[new.Spec.Versions[i].Name] = &new.Spec.Versions[i]
	}
	for i := range old.Spec.Versions {
		ov := &old.Spec.Versions[i]
		nv, ok := newByName[ov.Name]
		if !ok {
			// A single version replaced by another single version is a rename;
			// still compare the schemas so field-level breaks are reported too.
			if len(old.Spec.Versions) == 1 && len(new.Spec.Versions) == 1 {
				nv = &new.Spec.Versions[0]
				out = append(out, fmt.Sprintf("version %s renamed to %s", ov.Name, nv.Name))
			} else {
				out = append(out, fmt.Sprintf("version %s removed", ov.Name))
				continue
			}
		}
		if ov.Served && !nv.Served {
			out = append(out, fmt.Sprintf("version %s is no longer served", nv.Name))
		}
		if ov.Subresources != nil && ov.Subresources.Status != nil &&
			(nv.Subresources == nil || nv.Subresources.Status == nil) {
			out = append(out, fmt.Sprintf("version %s: status subresource removed", nv.Name))
		}
		var os, ns *apiextv1.JSONSchemaProps
		if ov.Schema != nil {
			os = ov.Schema.OpenAPIV3Schema
		}
		if nv.Schema != nil {
			ns = nv.Schema.OpenAPIV3Schema
		}
		if os != nil && ns == nil {
			out = append(out, fmt.Sprintf("version %s: schema removed", nv.Name))
			continue
		}
		c := &comparer{prefix: nv.Name + ": "}
		c.compare(os, ns, "")
		out = append(out, c.out...)
	}
	return out
}

type comparer struct {
	prefix string
	out    []string
}

func (c *comparer) add(path, format string, args ...any) {
	if path == "" {
		path = "<root>"
	}
	c.out = append(c.out, c.prefix+path+": "+fmt.Sprintf(format, args...))
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (c *comparer) compare(o, n *apiextv1.JSONSchemaProps, path string) {
	if o == nil || n == nil {
		return
	}
	if o.Type != n.Type && o.Type != "" {
		c.add(path, "type changed from %s to %s", o.Type, typeName(n.Type))
		return // nothing below is comparable
	}

	for _, name := range sortedKeys(o.Properties) {
		if _, ok := n.Properties[name]; !ok {
			c.add(join(path, name), "property removed")
		}
	}

	oldRequired := toSet(o.Required)
	for _, name := range sortedStrings(n.Required) {
		op, inOld := o.Properties[name]
		np, inNew := n.Properties[name]
		if !oldRequired[name] {
			// A defaulted field is filled in by the apiserver before
			// validation, so requiring it cannot reject existing objects.
			if !inNew || np.Default == nil {
				c.add(join(path, name), "field became required")
			}
			continue
		}
		// Required field that used to be filled in by a default: objects
		// that omitted it are now invalid.
		if inOld && inNew && op.Default != nil && np.Default == nil {
			c.add(join(path, name), "default removed from required field")
		}
	}

	c.compareEnum(o, n, path)

	switch {
	case o.Pattern == "" && n.Pattern != "":
		c.add(path, "pattern %q added", n.Pattern)
	case o.Pattern != "" && n.Pattern != "" && o.Pattern != n.Pattern:
		c.add(path, "pattern changed from %q to %q", o.Pattern, n.Pattern)
	}

	c.lowerBoundFloat(path, "minimum", o.Minimum, n.Minimum)
	c.upperBoundFloat(path, "maximum", o.Maximum, n.Maximum)
	c.lowerBound(path, "minLength", o.MinLength, n.MinLength)
	c.upperBound(path, "maxLength", o.MaxLength, n.MaxLength)
	c.lowerBound(path, "minItems", o.MinItems, n.MinItems)
	c.upperBound(path, "maxItems", o.MaxItems, n.MaxItems)
	c.lowerBound(path, "minProperties", o.MinProperties, n.MinProperties)
	c.upperBound(path, "maxProperties", o.MaxProperties, n.MaxProperties)

	for _, name := range sortedKeys(o.Properties) {
		if np, ok := n.Properties[name]; ok {
			op := o.Properties[name]
			c.compare(&op, &np, join(path, name))
		}
	}
	if o.Items != nil && n.Items != nil {
		c.compare(o.Items.Schema, n.Items.Schema, path+"[*]")
	}
	if o.AdditionalProperties != nil && o.AdditionalProperties.Schema != nil {
		if n.AdditionalProperties == nil || (n.AdditionalProperties.Schema == nil && !n.AdditionalProperties.Allows) {
			c.add(path, "additional properties no longer allowed")
		} else {
			c.compare(o.AdditionalProperties.Schema, n.AdditionalProperties.Schema, path+".*")
		}
	}
}

func typeName(t string) string {
	if t == "" {
		return "<any>"
	}
	return t
}

// compareEnum flags a new enum on a free field, or old values that are gone.
func (c *comparer) compareEnum(o, n *apiextv1.JSONSchemaProps, path string) {
	if len(n.Enum) == 0 {
		return
	}
	if len(o.Enum) == 0 {
		c.add(path, "enum restriction added")
		return
	}
	allowed := map[string]bool{}
	for _, v := range n.Enum {
		allowed[canonicalJSON(v.Raw)] = true
	}
	var removed []string
	for _, v := range o.Enum {
		if k := canonicalJSON(v.Raw); !allowed[k] {
			removed = append(removed, k)
		}
	}
	if len(removed) > 0 {
		c.add(path, "enum values removed: %v", removed)
	}
}

func canonicalJSON(raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func (c *comparer) lowerBoundFloat(path, name string, o, n *float64) {
	if n != nil && (o == nil || *n > *o) {
		c.add(path, "%s tightened from %s to %v", name, fmtFloat(o), *n)
	}
}

func (c *comparer) upperBoundFloat(path, name string, o, n *float64) {
	if n != nil && (o == nil || *n < *o) {
		c.add(path, "%s tightened from %s to %v", name, fmtFloat(o), *n)
	}
}

func (c *comparer) lowerBound(path, name string, o, n *int64) {
	old := int64(0)
	if o != nil {
		old = *o
	}
	if n != nil && *n > old {
		c.add(path, "%s tightened from %d to %d", name, old, *n)
	}
}

func (c *comparer) upperBound(path, name string, o, n *int64) {
	if n != nil && (o == nil || *n < *o) {
		c.add(path, "%s tightened from %s to %d", name, fmtInt(o), *n)
	}
}

func fmtFloat(p *float64) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func fmtInt(p *int64) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func sortedKeys(m map[string]apiextv1.JSONSchemaProps) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func toSet(s []string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}
