package graph

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utiljson "k8s.io/apimachinery/pkg/util/json"

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

	nodes, declErr := b.declareNodes()
	if declErr != nil && MissingKinds(declErr) == nil {
		return nil, declErr
	}
	// Only missing kinds so far: their resources are checked without a
	// schema, and every other problem is reported with them.
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
	errs := []error{declErr}
	for _, n := range nodes {
		errs = append(errs, b.compileNode(n))
		deps[n.ID] = n.Dependencies
	}
	if err := joinErrors(errs); err != nil {
		return nil, err
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
