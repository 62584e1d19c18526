package graph

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/cel"
)

// pendingNode carries what declareNodes learned before CEL compilation.
type pendingNode struct {
	*Node
	res    *v1alpha1.Resource
	schema *spec.Schema
}

func (n *pendingNode) isList() bool {
	return len(n.res.ForEach) > 0 || (n.res.ExternalRef != nil && n.res.ExternalRef.Metadata.Selector != nil)
}

// declareNodes validates ids and templates and resolves every kind. The
// problems of every resource are collected, each at its own resource.
func (b *builder) declareNodes() ([]*pendingNode, error) {
	b.ids = map[string]bool{}
	var nodes []*pendingNode
	var errs []error
	for i, res := range b.rgd.Spec.Resources {
		if res == nil {
			errs = append(errs, errorf("", fmt.Sprintf("spec.resources[%d]", i), "is empty"))
			continue
		}
		path := fmt.Sprintf("spec.resources[%d].id", i)
		switch {
		case !idPattern.MatchString(res.ID):
			errs = append(errs, errorf(res.ID, path, "id %q must be lowerCamelCase (^[a-z][a-zA-Z0-9]*$)", res.ID))
			continue
		case reserved[res.ID]:
			errs = append(errs, errorf(res.ID, path, "id %q is a reserved word", res.ID))
			continue
		case b.ids[res.ID]:
			errs = append(errs, errorf(res.ID, path, "duplicate resource id %q", res.ID))
			continue
		}
		b.ids[res.ID] = true
		if (res.Template == nil) == (res.ExternalRef == nil) {
			errs = append(errs, errorf(res.ID, "", "exactly one of template or externalRef must be set"))
			continue
		}
		if len(res.ForEach) > MaxCollectionDimensions {
			errs = append(errs, errorf(res.ID, "forEach", "%d dimensions exceed the limit of %d", len(res.ForEach), MaxCollectionDimensions))
			continue
		}
		n := &pendingNode{Node: &Node{ID: res.ID, Index: i, Fields: map[string]*Field{}}, res: res}
		var apiVersion, kind string
		if res.Template != nil {
			tmpl, err := decodeMap(res.Template.Raw)
			if err != nil {
				errs = append(errs, errorf(res.ID, "template", "%v", err))
				continue
			}
			if err := validateTemplateShape(tmpl); err != nil {
				errs = append(errs, errorf(res.ID, "template", "%v", err))
				continue
			}
			n.Template = tmpl
			apiVersion, kind = tmpl["apiVersion"].(string), tmpl["kind"].(string)
		} else {
			apiVersion, kind = res.ExternalRef.APIVersion, res.ExternalRef.Kind
			if (res.ExternalRef.Metadata.Name == "") == (res.ExternalRef.Metadata.Selector == nil) {
				errs = append(errs, errorf(res.ID, "externalRef.metadata", "exactly one of name or selector must be set"))
				continue
			}
		}
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil {
			errs = append(errs, errorf(res.ID, "template.apiVersion", "%v", err))
			continue
		}
		n.GVK = gv.WithKind(kind)
		k, err := b.resolver.Resolve(n.GVK)
		if err != nil {
			if nf, ok := err.(*KindNotFoundError); ok {
				// One error per resource, at its own kind; the RGD waits
				// when these are its only problems.
				kindPath := "template.kind"
				if res.Template == nil {
					kindPath = "externalRef.kind"
				}
				errs = append(errs, &BuildError{Resource: res.ID, Path: kindPath,
					Msg:     fmt.Sprintf("schema not found: kind %s is not served by the cluster", kindString(nf.GVK)),
					Missing: []schema.GroupVersionKind{nf.GVK}})
				// Declared without a schema (anything goes), so the rest of
				// the graph is still checked and all problems reported.
				b.graph.ByID[n.ID] = n.Node
				nodes = append(nodes, n)
				continue
			}
			if uk, ok := err.(*UnknownKindError); ok {
				kindPath := "template.kind"
				if res.Template == nil {
					kindPath = "externalRef.kind"
				}
				errs = append(errs, errorf(res.ID, kindPath, "%v", uk))
				continue
			}
			errs = append(errs, errorf(res.ID, "", "resolving kind %s: %v", kindString(n.GVK), err))
			continue
		}
		n.GVR, n.Namespaced, n.schema = k.GVR, k.Namespaced, k.Schema
		if n.schema != nil {
			n.schema = withObjectMeta(n.schema)
		}
		if err := b.checkScope(n); err != nil {
			errs = append(errs, err)
			continue
		}
		b.graph.ByID[n.ID] = n.Node
		nodes = append(nodes, n)
	}
	return nodes, joinErrors(errs)
}

func validateTemplateShape(t map[string]any) error {
	if v, ok := t["apiVersion"].(string); !ok || v == "" {
		return fmt.Errorf("apiVersion must be a non-empty string")
	}
	if v, ok := t["kind"].(string); !ok || v == "" {
		return fmt.Errorf("kind must be a non-empty string")
	}
	if cel.HasExpression(t["apiVersion"].(string)) || cel.HasExpression(t["kind"].(string)) {
		return fmt.Errorf("apiVersion and kind must not contain expressions")
	}
	md, ok := t["metadata"].(map[string]any)
	if !ok {
		return fmt.Errorf("metadata must be an object")
	}
	for _, key := range []string{"labels", "annotations"} {
		m, _ := md[key].(map[string]any)
		for k := range m {
			if strings.HasPrefix(k, "kro.run/") || strings.HasPrefix(k, "internal.kro.run/") {
				return fmt.Errorf("metadata.%s: key %q uses the reserved kro.run/ prefix", key, k)
			}
		}
	}
	return nil
}

func (b *builder) checkScope(n *pendingNode) error {
	if n.Template == nil {
		return nil
	}
	md := n.Template["metadata"].(map[string]any)
	ns, hasNS := md["namespace"]
	if !n.Namespaced && hasNS {
		return errorf(n.ID, "template.metadata.namespace", "kind %s is cluster-scoped and must not set a namespace", n.GVK.Kind)
	}
	if n.Namespaced && !b.graph.Instance.Namespaced {
		if s, _ := ns.(string); s == "" {
			return errorf(n.ID, "template.metadata.namespace", "instances of %s are cluster-scoped, so the namespaced %s must set metadata.namespace", b.graph.Instance.GVK.Kind, n.GVK.Kind)
		}
	}
	return nil
}
