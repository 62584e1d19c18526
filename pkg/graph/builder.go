package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	celgo "github.com/google/cel-go/cel"
	celtypes "github.com/google/cel-go/common/types"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/cel"
	"github.com/trellis-dev/trellis/pkg/crd"
	"github.com/trellis-dev/trellis/pkg/simpleschema"
)

var (
	kindPattern       = regexp.MustCompile(`^[A-Z][a-zA-Z0-9]*$`)
	apiVersionPattern = regexp.MustCompile(`^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$`)
	idPattern         = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
)

// reserved may not be used as resource ids: they are CEL keywords or names
// kro gives a meaning to.
var reserved = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`apiVersion context dependency dependencies each externalRef
		externalReference externalRefs externalReferences graph instance item items kind kro
		metadata namespace object resource resourcegraphdefinition resourceGraphDefinition resources
		root runtime schema self serviceAccountName spec status this variables vars version
		true false null in as break const continue else for function if import let loop package
		return var void while`) {
		m[w] = true
	}
	return m
}()

// Options are the feature switches of the builder.
type Options struct {
	// Omit enables omit() in templates (kro's CELOmitFunction gate).
	Omit bool
}

// Build validates an RGD and compiles it into a Graph.
func Build(rgd *v1alpha1.ResourceGraphDefinition, resolver Resolver) (*Graph, error) {
	return BuildWithOptions(rgd, resolver, Options{})
}

// BuildWithOptions is Build with feature switches.
func BuildWithOptions(rgd *v1alpha1.ResourceGraphDefinition, resolver Resolver, opts Options) (*Graph, error) {
	b := &builder{rgd: rgd, resolver: resolver, opts: opts}
	return b.build()
}

type builder struct {
	rgd      *v1alpha1.ResourceGraphDefinition
	resolver Resolver
	graph    *Graph
	opts     Options
	env      *cel.Env
	// tmplEnv compiles templates: env plus omit() when enabled.
	tmplEnv *cel.Env
	vars    []cel.Variable
	ids     map[string]bool
}

func (b *builder) build() (*Graph, error) {
	s := b.rgd.Spec.Schema
	if s == nil {
		return nil, errorf("", "spec.schema", "is required")
	}
	if !kindPattern.MatchString(s.Kind) {
		return nil, errorf("", "spec.schema.kind", "%q is not UpperCamelCase", s.Kind)
	}
	if !apiVersionPattern.MatchString(s.APIVersion) {
		return nil, errorf("", "spec.schema.apiVersion", "%q is not a Kubernetes version like v1alpha1", s.APIVersion)
	}
	group := s.Group
	if group == "" {
		group = v1alpha1.DefaultGroup
	}
	scope := s.Scope
	if scope == "" {
		scope = extv1.NamespaceScoped
	}

	specMap, err := decodeMap(s.Spec.Raw)
	if err != nil {
		return nil, errorf("", "spec.schema.spec", "%v", err)
	}
	typesMap, err := decodeMap(s.Types.Raw)
	if err != nil {
		return nil, errorf("", "spec.schema.types", "%v", err)
	}
	specProps, err := simpleschema.ToOpenAPI(specMap, typesMap)
	if err != nil {
		return nil, errorf("", "spec.schema.spec", "%v", err)
	}
	instanceProps := &extv1.JSONSchemaProps{
		Type: "object",
		Properties: map[string]extv1.JSONSchemaProps{
			"apiVersion": {Type: "string"},
			"kind":       {Type: "string"},
			"metadata":   {Type: "object"},
			"spec":       *specProps,
		},
	}
	instanceSchema, err := cel.SchemaFromCRD(instanceProps)
	if err != nil {
		return nil, errorf("", "spec.schema.spec", "%v", err)
	}
	withObjectMeta(instanceSchema)

	crdName := crd.Name(s.Kind, group)
	plural := strings.TrimSuffix(crdName, "."+group)
	b.graph = &Graph{
		Instance: InstanceKind{
			GVK:        schema.GroupVersionKind{Group: group, Version: s.APIVersion, Kind: s.Kind},
			Resource:   plural,
			Namespaced: scope == extv1.NamespaceScoped,
			Schema:     instanceSchema,
		},
		ByID: map[string]*Node{},
		Hash: Hash(&b.rgd.Spec),
	}

	nodes, err := b.declareNodes()
	if err != nil {
		return nil, err
	}
	b.vars = []cel.Variable{{Name: SchemaVar, Schema: instanceSchema, ClusterScoped: scope == extv1.ClusterScoped}}
	for _, n := range nodes {
		b.vars = append(b.vars, cel.Variable{Name: n.ID, Schema: n.schema, List: n.isList()})
	}
	if b.env, err = cel.NewEnv(b.vars, cel.EnvOptions{}); err != nil {
		return nil, errorf("", "", "building CEL environment: %v", err)
	}
	b.tmplEnv = b.env
	if b.opts.Omit {
		if b.tmplEnv, err = cel.NewEnv(b.vars, cel.EnvOptions{Omit: true}); err != nil {
			return nil, errorf("", "", "building CEL environment: %v", err)
		}
	}
	deps := map[string][]string{}
	for _, n := range nodes {
		if err := b.compileNode(n); err != nil {
			return nil, err
		}
		deps[n.ID] = n.Dependencies
	}
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	order, err := sortTopologically(ids, deps)
	if err != nil {
		return nil, errorf("", "spec.resources", "%v", err)
	}
	for _, id := range order {
		n := b.graph.ByID[id]
		n.ApplyOrder = 1
		for _, d := range n.Dependencies {
			if o := b.graph.ByID[d].ApplyOrder + 1; o > n.ApplyOrder {
				n.ApplyOrder = o
			}
			b.graph.ByID[d].Dependents = append(b.graph.ByID[d].Dependents, id)
		}
		b.graph.Nodes = append(b.graph.Nodes, n)
	}

	statusProps, err := b.compileStatus()
	if err != nil {
		return nil, err
	}
	var labels, annotations map[string]string
	if s.Metadata != nil {
		labels, annotations = s.Metadata.Labels, s.Metadata.Annotations
	}
	b.graph.CRD = crd.Build(crd.Input{
		Group:          group,
		Version:        s.APIVersion,
		Kind:           s.Kind,
		Scope:          scope,
		Spec:           specProps,
		Status:         statusProps,
		ShortNames:     s.ShortNames,
		Categories:     s.Categories,
		PrinterColumns: s.AdditionalPrinterColumns,
		Labels:         labels,
		Annotations:    annotations,
	})
	return b.graph, nil
}

// pendingNode carries what declareNodes learned before CEL compilation.
type pendingNode struct {
	*Node
	res    *v1alpha1.Resource
	schema *spec.Schema
}

func (n *pendingNode) isList() bool {
	return len(n.res.ForEach) > 0 || (n.res.ExternalRef != nil && n.res.ExternalRef.Metadata.Selector != nil)
}

// declareNodes validates ids and templates and resolves every kind. Kinds
// that are not served are collected so the error lists all of them.
func (b *builder) declareNodes() ([]*pendingNode, error) {
	b.ids = map[string]bool{}
	var nodes []*pendingNode
	var missing []schema.GroupVersionKind
	var missingIDs []string
	for i, res := range b.rgd.Spec.Resources {
		if res == nil {
			return nil, errorf("", fmt.Sprintf("spec.resources[%d]", i), "is empty")
		}
		path := fmt.Sprintf("spec.resources[%d].id", i)
		switch {
		case !idPattern.MatchString(res.ID):
			return nil, errorf(res.ID, path, "id %q must be lowerCamelCase (^[a-z][a-zA-Z0-9]*$)", res.ID)
		case reserved[res.ID]:
			return nil, errorf(res.ID, path, "id %q is a reserved word", res.ID)
		case b.ids[res.ID]:
			return nil, errorf(res.ID, path, "duplicate resource id %q", res.ID)
		}
		b.ids[res.ID] = true
		if (res.Template == nil) == (res.ExternalRef == nil) {
			return nil, errorf(res.ID, "", "exactly one of template or externalRef must be set")
		}
		if len(res.ForEach) > MaxCollectionDimensions {
			return nil, errorf(res.ID, "forEach", "%d dimensions exceed the limit of %d", len(res.ForEach), MaxCollectionDimensions)
		}
		n := &pendingNode{Node: &Node{ID: res.ID, Index: i, Fields: map[string]*Field{}}, res: res}
		var apiVersion, kind string
		if res.Template != nil {
			tmpl, err := decodeMap(res.Template.Raw)
			if err != nil {
				return nil, errorf(res.ID, "template", "%v", err)
			}
			if err := validateTemplateShape(tmpl); err != nil {
				return nil, errorf(res.ID, "template", "%v", err)
			}
			n.Template = tmpl
			apiVersion, kind = tmpl["apiVersion"].(string), tmpl["kind"].(string)
		} else {
			apiVersion, kind = res.ExternalRef.APIVersion, res.ExternalRef.Kind
			if (res.ExternalRef.Metadata.Name == "") == (res.ExternalRef.Metadata.Selector == nil) {
				return nil, errorf(res.ID, "externalRef.metadata", "exactly one of name or selector must be set")
			}
		}
		gv, err := schema.ParseGroupVersion(apiVersion)
		if err != nil {
			return nil, errorf(res.ID, "template.apiVersion", "%v", err)
		}
		n.GVK = gv.WithKind(kind)
		k, err := b.resolver.Resolve(n.GVK)
		if err != nil {
			if nf, ok := err.(*KindNotFoundError); ok {
				missing = append(missing, nf.GVK)
				missingIDs = append(missingIDs, res.ID)
				nodes = append(nodes, n)
				continue
			}
			return nil, errorf(res.ID, "", "resolving kind %s: %v", kindString(n.GVK), err)
		}
		n.GVR, n.Namespaced, n.schema = k.GVR, k.Namespaced, k.Schema
		if n.schema != nil {
			n.schema = withObjectMeta(n.schema)
		}
		if err := b.checkScope(n); err != nil {
			return nil, err
		}
		b.graph.ByID[n.ID] = n.Node
		nodes = append(nodes, n)
	}
	if len(missing) > 0 {
		kinds := make([]string, len(missing))
		for i, m := range missing {
			kinds[i] = kindString(m)
		}
		return nil, &BuildError{
			Resource: missingIDs[0],
			Msg:      fmt.Sprintf("schema not found: kind %s is not served by the cluster", strings.Join(kinds, ", ")),
			Missing:  missing,
		}
	}
	return nodes, nil
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

// compileNode compiles the template, includeWhen and readyWhen of a node and
// records which resources it reads.
func (b *builder) compileNode(n *pendingNode) error {
	deps := map[string]bool{}
	env := b.tmplEnv
	if len(n.res.ForEach) > 0 {
		var err error
		if env, err = b.compileForEach(n, deps); err != nil {
			return err
		}
	}
	if n.Template != nil {
		for k, v := range n.Template {
			var s *spec.Schema
			switch k {
			case "apiVersion", "kind":
				continue // validated by validateTemplateShape
			case "metadata":
				s = &objectMetaSchema
			default:
				var ok bool
				if s, ok = propertySchema(n.schema, k); !ok {
					return errorf(n.ID, "template."+k, "schema not found for field %s (unknown field)", k)
				}
			}
			if err := b.walkTemplate(env, n, v, s, "template."+k, deps); err != nil {
				return err
			}
		}
		if err := checkIteratorsInIdentity(n); err != nil {
			return err
		}
	} else {
		ext := n.res.ExternalRef
		n.External = &External{Selector: ext.Metadata.Selector}
		var err error
		if ext.Metadata.Name != "" {
			if n.External.Name, err = b.compileString(b.env, n.ID, "externalRef.metadata.name", ext.Metadata.Name, stringSchema, deps); err != nil {
				return err
			}
		}
		if sel := ext.Metadata.Selector; sel != nil {
			n.External.SelectorFields = map[string]*Field{}
			values := []string{}
			for _, v := range sel.MatchLabels {
				values = append(values, v)
			}
			for _, e := range sel.MatchExpressions {
				values = append(values, e.Values...)
			}
			for _, v := range values {
				if !cel.HasExpression(v) {
					continue
				}
				f, err := b.compileString(b.env, n.ID, "externalRef.metadata.selector", v, stringSchema, deps)
				if err != nil {
					return err
				}
				n.External.SelectorFields[v] = f
			}
		}
		if ext.Metadata.Namespace != "" {
			if n.External.Namespace, err = b.compileString(b.env, n.ID, "externalRef.metadata.namespace", ext.Metadata.Namespace, stringSchema, deps); err != nil {
				return err
			}
		}
	}
	for i, expr := range n.res.IncludeWhen {
		p, err := b.compileCondition(b.env, n.ID, fmt.Sprintf("includeWhen[%d]", i), expr)
		if err != nil {
			return err
		}
		for ref := range p.References {
			if b.ids[ref] {
				if ref == n.ID {
					return errorf(n.ID, fmt.Sprintf("includeWhen[%d]", i), "includeWhen cannot reference the resource itself")
				}
				deps[ref] = true
			}
		}
		n.IncludeWhen = append(n.IncludeWhen, p)
	}
	readyEnv, self := b.env, n.ID
	if len(n.res.ForEach) > 0 {
		// Readiness of a collection is judged per item, through `each`.
		var err error
		if readyEnv, err = cel.NewEnv([]cel.Variable{{Name: EachVar, Schema: n.schema}}, cel.EnvOptions{}); err != nil {
			return errorf(n.ID, "readyWhen", "%v", err)
		}
		self = EachVar
	}
	for i, expr := range n.res.ReadyWhen {
		p, err := b.compileCondition(readyEnv, n.ID, fmt.Sprintf("readyWhen[%d]", i), expr)
		if err != nil {
			return err
		}
		for ref := range p.References {
			if ref != self {
				return errorf(n.ID, fmt.Sprintf("readyWhen[%d]", i), "readyWhen may only reference %q, not %q", self, ref)
			}
		}
		n.ReadyWhen = append(n.ReadyWhen, p)
	}
	for d := range deps {
		if b.ids[d] {
			n.Dependencies = append(n.Dependencies, d)
		}
	}
	sort.Slice(n.Dependencies, func(i, j int) bool {
		return b.graph.ByID[n.Dependencies[i]].Index < b.graph.ByID[n.Dependencies[j]].Index
	})
	return nil
}

// compileCondition compiles a standalone expression that must return bool.
func (b *builder) compileCondition(env *cel.Env, id, path, raw string) (*cel.Program, error) {
	p, err := b.compileCondition0With(env, id, path, raw)
	if err != nil {
		return nil, err
	}
	t := p.OutputType
	if !t.IsExactType(celgo.BoolType) && !t.IsExactType(celgo.OptionalType(celgo.BoolType)) && !t.IsExactType(celgo.DynType) {
		return nil, errorf(id, path, "must return bool, returns %s", t)
	}
	return p, nil
}

var stringSchema = &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}

// compileString compiles one string of a template that carries expressions,
// checking that its value fits the schema of the field it fills.
func (b *builder) compileString(env *cel.Env, id, path, raw string, want *spec.Schema, deps map[string]bool) (*Field, error) {
	segs, err := cel.ParseTemplate(raw)
	if err != nil {
		return nil, errorf(id, path, "%v", err)
	}
	f := &Field{Raw: raw, Standalone: len(segs) == 1 && segs[0].IsExpr}
	for _, seg := range segs {
		if !seg.IsExpr {
			f.Parts = append(f.Parts, Part{Text: seg.Text})
			continue
		}
		p, err := env.Compile(seg.Text)
		if err != nil {
			return nil, errorf(id, path, "%v", err)
		}
		if f.Standalone {
			if err := cel.CheckAssignable(p.OutputType, want); err != nil {
				return nil, errorf(id, path, "%v", err)
			}
		} else if !p.OutputType.IsExactType(celgo.StringType) && !p.OutputType.IsExactType(celgo.DynType) {
			return nil, errorf(id, path, "expression ${%s} in a string template must return string, returns %s", seg.Text, p.OutputType)
		}
		for ref := range p.References {
			if ref == id {
				return nil, errorf(id, path, "self references are not allowed (${%s})", seg.Text)
			}
			if b.ids[ref] {
				deps[ref] = true
			}
		}
		f.Parts = append(f.Parts, Part{Program: p})
	}
	if !f.Standalone {
		if err := cel.CheckAssignable(celgo.StringType, want); err != nil {
			return nil, errorf(id, path, "%v", err)
		}
	}
	return f, nil
}

// walkTemplate visits every value of a template alongside the schema of the
// field it fills: expressions are compiled and type-checked, literal fields
// must exist in the schema.
func (b *builder) walkTemplate(env *cel.Env, n *pendingNode, v any, s *spec.Schema, path string, deps map[string]bool) error {
	switch val := v.(type) {
	case string:
		if !cel.HasExpression(val) {
			return checkLiteral(n.ID, path, val, s)
		}
		f, err := b.compileString(env, n.ID, path, val, s, deps)
		if err != nil {
			return err
		}
		if prev, ok := n.Fields[val]; ok && prev.Standalone != f.Standalone {
			return errorf(n.ID, path, "internal error: inconsistent field %q", val)
		}
		n.Fields[val] = f
		return nil
	case map[string]any:
		if s != nil && !isAny(s) && !hasType(s, "object") {
			return errorf(n.ID, path, "expected %s, got object", typeName(s))
		}
		for k, child := range val {
			cs, ok := propertySchema(s, k)
			if !ok {
				return errorf(n.ID, path+"."+k, "schema not found for field %s (unknown field)", k)
			}
			if err := b.walkTemplate(env, n, child, cs, path+"."+k, deps); err != nil {
				return err
			}
		}
	case []any:
		if s != nil && !isAny(s) && !hasType(s, "array") {
			return errorf(n.ID, path, "expected %s, got array", typeName(s))
		}
		var is *spec.Schema
		if s != nil && s.Items != nil {
			is = s.Items.Schema
		}
		for i, child := range val {
			if err := b.walkTemplate(env, n, child, is, fmt.Sprintf("%s[%d]", path, i), deps); err != nil {
				return err
			}
		}
	default:
		return checkLiteral(n.ID, path, val, s)
	}
	return nil
}

// checkLiteral rejects literal values of the wrong JSON type.
func checkLiteral(id, path string, v any, s *spec.Schema) error {
	if s == nil || isAny(s) || len(s.Type) == 0 {
		return nil
	}
	var got string
	switch v.(type) {
	case nil:
		return nil
	case string:
		got = "string"
	case bool:
		got = "boolean"
	case int64, int, int32:
		got = "integer"
		if hasType(s, "number") {
			return nil
		}
	case float64:
		got = "number"
	default:
		return nil
	}
	if !hasType(s, got) {
		return errorf(id, path, "expected %s, got %s", typeName(s), got)
	}
	return nil
}

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

// Hash fingerprints an RGD spec so that an edit that changes nothing (YAML
// formatting, key order, resources or conditions listed in another order)
// is recognised as the same graph. Encoding through JSON makes key order
// irrelevant; resources are sorted by id, conditions sorted (they are ANDed).
func Hash(s *v1alpha1.ResourceGraphDefinitionSpec) string {
	n := s.DeepCopy()
	sort.SliceStable(n.Resources, func(i, j int) bool {
		if n.Resources[i] == nil || n.Resources[j] == nil {
			return false
		}
		return n.Resources[i].ID < n.Resources[j].ID
	})
	for _, r := range n.Resources {
		if r != nil {
			sort.Strings(r.ReadyWhen)
			sort.Strings(r.IncludeWhen)
		}
	}
	raw, _ := json.Marshal(n)
	var v any
	_ = utiljson.Unmarshal(raw, &v)
	canon, _ := json.Marshal(v)
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:8])
}

func decodeMap(raw []byte) (map[string]any, error) {
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := utiljson.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("must be an object: %v", err)
	}
	if m == nil {
		m = map[string]any{}
	}
	return m, nil
}

// ---- schema helpers ----

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

// compileForEach compiles the dimensions of a collection and returns the
// environment its template is compiled in: the graph's variables plus one
// iterator per dimension, typed with the element type of its list.
func (b *builder) compileForEach(n *pendingNode, deps map[string]bool) (*cel.Env, error) {
	vars := append([]cel.Variable{}, b.vars...)
	seen := map[string]bool{}
	for i, dim := range n.res.ForEach {
		path := fmt.Sprintf("forEach[%d]", i)
		if len(dim) != 1 {
			return nil, errorf(n.ID, path, "each dimension must have exactly one iterator, has %d", len(dim))
		}
		for name, raw := range dim {
			switch {
			case !idPattern.MatchString(name):
				return nil, errorf(n.ID, path, "iterator %q must be lowerCamelCase", name)
			case reserved[name]:
				return nil, errorf(n.ID, path, "iterator %q is a reserved word", name)
			case b.ids[name]:
				return nil, errorf(n.ID, path, "iterator %q has the name of a resource", name)
			case seen[name]:
				return nil, errorf(n.ID, path, "duplicate iterator %q", name)
			}
			seen[name] = true
			p, err := b.compileCondition0(n.ID, path+"."+name, raw)
			if err != nil {
				return nil, err
			}
			if p.OutputType.Kind() != celtypes.ListKind && !p.OutputType.IsExactType(celgo.DynType) {
				return nil, errorf(n.ID, path+"."+name, "must return a list, returns %s", p.OutputType)
			}
			elem := celgo.DynType
			if params := p.OutputType.Parameters(); len(params) == 1 {
				elem = params[0]
			}
			for ref := range p.References {
				if ref == n.ID {
					return nil, errorf(n.ID, path, "self references are not allowed")
				}
				if b.ids[ref] {
					deps[ref] = true
				}
			}
			n.ForEach = append(n.ForEach, &Dimension{Name: name, Program: p})
			vars = append(vars, cel.Variable{Name: name, Type: elem})
		}
	}
	env, err := cel.NewEnv(vars, cel.EnvOptions{Omit: b.opts.Omit})
	if err != nil {
		return nil, errorf(n.ID, "forEach", "%v", err)
	}
	return env, nil
}

// compileCondition0 compiles a standalone expression of any type.
func (b *builder) compileCondition0(id, path, raw string) (*cel.Program, error) {
	return b.compileCondition0With(b.env, id, path, raw)
}

func (b *builder) compileCondition0With(env *cel.Env, id, path, raw string) (*cel.Program, error) {
	expr, ok, err := cel.Standalone(raw)
	if err != nil {
		return nil, errorf(id, path, "%v", err)
	}
	if !ok {
		return nil, errorf(id, path, "must be a single ${...} expression, got %q", raw)
	}
	p, err := env.Compile(expr)
	if err != nil {
		return nil, errorf(id, path, "%v", err)
	}
	return p, nil
}

// checkIteratorsInIdentity: every iterator must shape the item's name (or
// namespace), or the items of a collection would collide.
func checkIteratorsInIdentity(n *pendingNode) error {
	md := n.Template["metadata"].(map[string]any)
	for _, key := range []string{"name", "namespace"} {
		s, _ := md[key].(string)
		if f, ok := n.Fields[s]; ok {
			for _, p := range f.Parts {
				if p.Program != nil && p.Program.UsesOmit {
					return errorf(n.ID, "template.metadata."+key, "omit() cannot remove the object's %s", key)
				}
			}
		}
	}
	if len(n.ForEach) == 0 {
		return nil
	}
	used := map[string]bool{}
	for _, key := range []string{"name", "namespace"} {
		s, _ := md[key].(string)
		if f, ok := n.Fields[s]; ok {
			for _, p := range f.Parts {
				if p.Program != nil {
					for ref := range p.Program.References {
						used[ref] = true
					}
				}
			}
		}
	}
	for _, d := range n.ForEach {
		if !used[d.Name] {
			return errorf(n.ID, "template.metadata.name", "iterator %q must be used in metadata.name or metadata.namespace so that items are distinct", d.Name)
		}
	}
	return nil
}

// compileConditions compiles status.conditions: a list of standalone
// expressions, each a runtime.newCondition(...) or a list of them.
func (b *builder) compileConditions(v any, path string) error {
	list, ok := v.([]any)
	if !ok {
		return errorf("", path, "must be a list of ${runtime.newCondition(...)} expressions")
	}
	env, err := cel.NewEnv(b.vars, cel.EnvOptions{Runtime: true})
	if err != nil {
		return errorf("", path, "%v", err)
	}
	for i, item := range list {
		raw, ok := item.(string)
		if !ok {
			return errorf("", fmt.Sprintf("%s[%d]", path, i), "must be a ${...} expression")
		}
		p, err := b.compileCondition0With(env, "", fmt.Sprintf("%s[%d]", path, i), raw)
		if err != nil {
			return err
		}
		b.graph.Conditions = append(b.graph.Conditions, p)
	}
	return nil
}
