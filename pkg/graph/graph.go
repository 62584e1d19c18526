// Package graph turns a ResourceGraphDefinition into a compiled, type-checked
// dependency graph. It is pure: schemas of the kinds it references come from a
// SchemaResolver (live discovery in the controller, files in the CLI).
package graph

import (
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/trellis-dev/trellis/pkg/cel"
)

// SchemaVar is the CEL variable holding the instance (without status).
const SchemaVar = "schema"

// Graph is the compiled form of one RGD spec. It is immutable once built and
// shared by every reconcile of every instance of its kind.
type Graph struct {
	// Instance describes the generated API.
	Instance InstanceKind
	// CRD is the desired generated CRD.
	CRD *extv1.CustomResourceDefinition
	// Nodes in topological order (ties in declaration order).
	Nodes []*Node
	// ByID indexes Nodes.
	ByID map[string]*Node
	// Status is the compiled status projection (nil when the RGD declares none).
	Status *StatusField
	// Conditions are the author's custom conditions (status.conditions),
	// each returning a condition or a list of them.
	Conditions []*cel.Program
	// Hash fingerprints the spec the graph was built from.
	Hash string
}

// InstanceKind is the API an RGD generates.
type InstanceKind struct {
	GVK        schema.GroupVersionKind
	Resource   string // plural
	Namespaced bool
	// Schema is the instance schema without status, as seen by CEL.
	Schema *spec.Schema
}

// GVR returns the instance's GroupVersionResource.
func (k InstanceKind) GVR() schema.GroupVersionResource {
	return k.GVK.GroupVersion().WithResource(k.Resource)
}

// TopologicalOrder lists node ids in the order they are reconciled.
func (g *Graph) TopologicalOrder() []string {
	ids := make([]string, len(g.Nodes))
	for i, n := range g.Nodes {
		ids[i] = n.ID
	}
	return ids
}

// Node is one resource of the graph.
type Node struct {
	ID string
	// Index is the declaration index in spec.resources.
	Index int
	GVK   schema.GroupVersionKind
	GVR   schema.GroupVersionResource
	// Namespaced is the scope of the kind.
	Namespaced bool
	// Template is the raw template (nil for external refs). Strings with
	// expressions are looked up in Fields while rendering.
	Template map[string]any
	// Fields holds the compiled expressions of the template, keyed by the raw
	// string that carries them.
	Fields map[string]*Field
	// External is set for externalRef nodes: read, never written.
	External *External
	// IncludeWhen and ReadyWhen are compiled conditions.
	IncludeWhen []*cel.Program
	ReadyWhen   []*cel.Program
	// Dependencies are the ids this node reads (sorted by declaration order).
	Dependencies []string
	// Dependents are the ids that read this node.
	Dependents []string
	// ForEach makes the node a collection: one object per combination of
	// the dimensions' items (first dimension outermost).
	ForEach []*Dimension
	// ApplyOrder is the 1-based layer of the node: 1 + the highest layer of
	// its dependencies. Deletion removes the highest layer first.
	ApplyOrder int
}

// Dimension is one forEach iterator.
type Dimension struct {
	Name    string
	Program *cel.Program
}

// IsCollection reports whether other nodes see this node as a list.
func (n *Node) IsCollection() bool {
	return len(n.ForEach) > 0 || (n.External != nil && n.External.Selector != nil)
}

// Limits of collections, as kro's defaults.
const (
	MaxCollectionSize       = 1000
	MaxCollectionDimensions = 10
	// EachVar is the variable readyWhen of a collection reads.
	EachVar = "each"
)

// External describes an externalRef.
type External struct {
	Name      *Field // may be a template
	Namespace *Field // nil when unset
	Selector  *metav1.LabelSelector
	// SelectorFields holds the compiled expressions of selector values,
	// keyed by the raw string.
	SelectorFields map[string]*Field
}

// Field is one string of a template that carries expressions.
type Field struct {
	// Raw is the string as written in the RGD.
	Raw string
	// Standalone fields are exactly one ${expr} and keep the expression's type.
	Standalone bool
	// Parts alternate literal text and programs for string templates; a
	// standalone field has one program part.
	Parts []Part
}

// Part is a literal or a program.
type Part struct {
	Text    string
	Program *cel.Program
}

// StatusField is a node of the status projection tree: either a map of
// children or a leaf expression.
type StatusField struct {
	Children map[string]*StatusField
	Leaf     *Field
	// Dependencies are the resource ids the leaf reads.
	Dependencies []string
}
