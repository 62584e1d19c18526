package cel

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	apiservercel "k8s.io/apiserver/pkg/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// kind of a typed node. Every schema is compiled once into a tree of nodes;
// the tree gives both the CEL declaration (compile time) and the conversion
// of JSON data into CEL values (run time), so the two always agree.
type kind uint8

const (
	kDyn kind = iota
	kString
	kInt
	kDouble
	kBool
	kBytes
	kTimestamp
	kDuration
	kObject // fixed properties
	kMap    // additionalProperties
	kList
)

// maxSchemaDepth bounds recursion on pathological (or recursive) schemas;
// anything deeper is dyn.
const maxSchemaDepth = 48

type node struct {
	kind     kind
	props    map[string]*node // kObject: keyed by the JSON property name
	elem     *node            // kMap values, kList items
	typeName string           // kObject: CEL object type name
	celType  *cel.Type
	hash     uint64 // structural hash, used to name types uniquely
}

var dynNode = &node{kind: kDyn, celType: cel.DynType, hash: 1}

// typeRegistry maps CEL object type names to nodes, so that package-level
// helpers (CheckAssignable, InferSchema) can look inside object types that
// only carry a name. Names embed a structural hash, so equal names always
// describe equal structures and entries can be shared between envs. It only
// grows with the number of distinct schemas seen by the process.
var typeRegistry sync.Map // string -> *node

func lookupObject(name string) (*node, bool) {
	v, ok := typeRegistry.Load(name)
	if !ok {
		return nil, false
	}
	return v.(*node), true
}

func isXPreserve(s *spec.Schema) bool {
	b, _ := s.Extensions.GetBool("x-kubernetes-preserve-unknown-fields")
	return b
}

func isXIntOrString(s *spec.Schema) bool {
	b, _ := s.Extensions.GetBool("x-kubernetes-int-or-string")
	return b
}

func schemaType(s *spec.Schema) string {
	if len(s.Type) > 0 {
		return s.Type[0]
	}
	if len(s.Properties) > 0 {
		return "object"
	}
	if s.Items != nil && s.Items.Schema != nil {
		return "array"
	}
	return ""
}

// buildNode converts a schema into an (unnamed) node tree.
func buildNode(s *spec.Schema, depth int) *node {
	if s == nil || depth > maxSchemaDepth || isXIntOrString(s) {
		return dynNode
	}
	if schemaType(s) == "" && !isXPreserve(s) {
		// Unresolved-style wrappers (`allOf: [<schema>]`, as kube-openapi
		// emits around refs): use the first typed member.
		for i := range s.AllOf {
			if schemaType(&s.AllOf[i]) != "" {
				return buildNode(&s.AllOf[i], depth)
			}
		}
	}
	if b, _ := s.Extensions.GetBool("x-kubernetes-embedded-resource"); b {
		s = withTypeMeta(s, false)
	}
	switch schemaType(s) {
	case "string":
		switch s.Format {
		case "byte":
			return scalarNode(kBytes)
		case "date-time", "date":
			return scalarNode(kTimestamp)
		case "duration":
			return scalarNode(kDuration)
		}
		return scalarNode(kString)
	case "integer":
		return scalarNode(kInt)
	case "number":
		return scalarNode(kDouble)
	case "boolean":
		return scalarNode(kBool)
	case "array":
		if s.Items == nil || s.Items.Schema == nil {
			return listNode(dynNode)
		}
		return listNode(buildNode(s.Items.Schema, depth+1))
	case "object":
		// Unknown fields are reachable only through dyn.
		if isXPreserve(s) {
			return dynNode
		}
		if len(s.Properties) > 0 {
			n := &node{kind: kObject, props: make(map[string]*node, len(s.Properties))}
			for name := range s.Properties {
				p := s.Properties[name]
				n.props[name] = buildNode(&p, depth+1)
			}
			return n
		}
		if ap := s.AdditionalProperties; ap != nil && ap.Schema != nil {
			return &node{kind: kMap, elem: buildNode(ap.Schema, depth+1)}
		}
		// `type: object` without properties: kro treats it as free-form.
		return dynNode
	}
	return dynNode
}

func scalarNode(k kind) *node {
	switch k {
	case kString:
		return &node{kind: k, celType: cel.StringType}
	case kInt:
		return &node{kind: k, celType: cel.IntType}
	case kDouble:
		return &node{kind: k, celType: cel.DoubleType}
	case kBool:
		return &node{kind: k, celType: cel.BoolType}
	case kBytes:
		return &node{kind: k, celType: cel.BytesType}
	case kTimestamp:
		return &node{kind: k, celType: cel.TimestampType}
	case kDuration:
		return &node{kind: k, celType: cel.DurationType}
	}
	return dynNode
}

func listNode(elem *node) *node { return &node{kind: kList, elem: elem} }

// computeHash computes structural hashes bottom-up (cached in the nodes).
func computeHash(n *node) uint64 {
	if n.hash != 0 {
		return n.hash
	}
	h := fnv.New64a()
	var buf [8]byte
	h.Write([]byte{byte(n.kind)})
	switch n.kind {
	case kList, kMap:
		binary.LittleEndian.PutUint64(buf[:], computeHash(n.elem))
		h.Write(buf[:])
	case kObject:
		for _, k := range sortedKeys(n.props) {
			h.Write([]byte(k))
			h.Write([]byte{0})
			binary.LittleEndian.PutUint64(buf[:], computeHash(n.props[k]))
			h.Write(buf[:])
		}
	}
	n.hash = h.Sum64() | 1 // never 0
	return n.hash
}

// assignTypes names object types after their path below name and computes
// the CEL types, top-down.
func assignTypes(n *node, name string) {
	switch n.kind {
	case kList:
		assignTypes(n.elem, name+".@idx")
		n.celType = cel.ListType(n.elem.celType)
	case kMap:
		assignTypes(n.elem, name+".@elem")
		n.celType = cel.MapType(cel.StringType, n.elem.celType)
	case kObject:
		n.typeName = name
		for k, c := range n.props {
			// Dots in property names would make paths ambiguous.
			assignTypes(c, name+"."+strings.ReplaceAll(k, ".", "~"))
		}
		n.celType = cel.ObjectType(name)
		// Same name means same structure, so the first node stored is as
		// good as any.
		typeRegistry.LoadOrStore(name, n)
	}
}

type metaMode uint8

const (
	metaNone    metaMode = iota // plain value
	metaFull                    // Kubernetes object: inject type meta and ObjectMeta
	metaCluster                 // same, without metadata.namespace
)

// compileSchema turns a variable schema into a named node tree.
func compileSchema(varName string, s *spec.Schema, mode metaMode) *node {
	if s == nil {
		return dynNode
	}
	if mode != metaNone {
		s = withTypeMeta(s, mode == metaCluster)
	}
	n := buildNode(s, 0)
	if n.kind == kDyn || n.kind < kObject {
		return n
	}
	h := computeHash(n)
	name := fmt.Sprintf("__type_%s_%08x", varName, uint32(h^(h>>32)))
	if n.kind == kObject {
		// Same variable name and structure as an earlier env: reuse its
		// typed tree instead of building another one.
		if prev, ok := lookupObject(name); ok && prev.hash == h {
			return prev
		}
	}
	assignTypes(n, name)
	return n
}

var (
	objectMetaOnce   sync.Once
	objectMetaSchema *spec.Schema
)

// objectMeta is the well-known part of metav1.ObjectMeta, used when a
// (CRD) schema declares `metadata: {type: object}` without properties.
func objectMeta() *spec.Schema {
	objectMetaOnce.Do(func() {
		const src = `{"type":"object","properties":{
 "name":{"type":"string"},"generateName":{"type":"string"},"namespace":{"type":"string"},
 "selfLink":{"type":"string"},"uid":{"type":"string"},"resourceVersion":{"type":"string"},
 "generation":{"type":"integer","format":"int64"},
 "creationTimestamp":{"type":"string","format":"date-time"},
 "deletionTimestamp":{"type":"string","format":"date-time"},
 "deletionGracePeriodSeconds":{"type":"integer","format":"int64"},
 "labels":{"type":"object","additionalProperties":{"type":"string"}},
 "annotations":{"type":"object","additionalProperties":{"type":"string"}},
 "finalizers":{"type":"array","items":{"type":"string"}},
 "ownerReferences":{"type":"array","items":{"type":"object","required":["apiVersion","kind","name","uid"],"properties":{
   "apiVersion":{"type":"string"},"kind":{"type":"string"},"name":{"type":"string"},"uid":{"type":"string"},
   "controller":{"type":"boolean"},"blockOwnerDeletion":{"type":"boolean"}}}},
 "managedFields":{"type":"array","items":{"type":"object","properties":{
   "manager":{"type":"string"},"operation":{"type":"string"},"apiVersion":{"type":"string"},
   "time":{"type":"string","format":"date-time"},"fieldsType":{"type":"string"},
   "fieldsV1":{"type":"object","x-kubernetes-preserve-unknown-fields":true},"subresource":{"type":"string"}}}}
}}`
		objectMetaSchema = new(spec.Schema)
		if err := json.Unmarshal([]byte(src), objectMetaSchema); err != nil {
			panic(err)
		}
	})
	return objectMetaSchema
}

// withTypeMeta returns s with apiVersion, kind and a typed metadata,
// copying only what it changes.
func withTypeMeta(s *spec.Schema, cluster bool) *spec.Schema {
	if schemaType(s) != "object" || isXPreserve(s) && len(s.Properties) == 0 {
		return s
	}
	meta, hasMeta := s.Properties["metadata"]
	_, hasKind := s.Properties["kind"]
	_, hasAV := s.Properties["apiVersion"]
	needMeta := !hasMeta || len(meta.Properties) == 0 || missingMetaFields(&meta, cluster)
	if hasKind && hasAV && !needMeta {
		return s
	}
	out := *s
	out.Type = spec.StringOrArray{"object"}
	out.Properties = make(map[string]spec.Schema, len(s.Properties)+3)
	for k, v := range s.Properties {
		out.Properties[k] = v
	}
	if !hasKind {
		out.Properties["kind"] = *spec.StringProperty()
	}
	if !hasAV {
		out.Properties["apiVersion"] = *spec.StringProperty()
	}
	if needMeta {
		m := *objectMeta()
		if hasMeta && len(meta.Properties) > 0 {
			// Keep what the schema says, fill in the well-known rest.
			props := make(map[string]spec.Schema, len(m.Properties)+len(meta.Properties))
			for k, v := range m.Properties {
				props[k] = v
			}
			for k, v := range meta.Properties {
				props[k] = v
			}
			m.Properties = props
		}
		if cluster {
			props := make(map[string]spec.Schema, len(m.Properties))
			for k, v := range m.Properties {
				if k != "namespace" {
					props[k] = v
				}
			}
			m.Properties = props
		}
		out.Properties["metadata"] = m
	}
	return &out
}

func missingMetaFields(meta *spec.Schema, cluster bool) bool {
	for _, f := range []string{"name", "namespace", "labels", "annotations", "uid", "generation"} {
		if _, ok := meta.Properties[f]; !ok && !(cluster && f == "namespace") {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// nodeForType builds a node from a CEL type, reusing the registered object
// types so fields stay typed.
func nodeForType(t *cel.Type, depth int) *node {
	if t == nil || depth > maxSchemaDepth {
		return dynNode
	}
	switch t.Kind() {
	case types.BoolKind:
		return scalarNode(kBool)
	case types.IntKind:
		return scalarNode(kInt)
	case types.DoubleKind:
		return scalarNode(kDouble)
	case types.StringKind:
		return scalarNode(kString)
	case types.BytesKind:
		return scalarNode(kBytes)
	case types.TimestampKind:
		return scalarNode(kTimestamp)
	case types.DurationKind:
		return scalarNode(kDuration)
	case types.ListKind:
		e := nodeForType(t.Parameters()[0], depth+1)
		return &node{kind: kList, elem: e, celType: cel.ListType(e.celType)}
	case types.MapKind:
		if k := t.Parameters()[0].Kind(); k == types.StringKind || k == types.DynKind {
			e := nodeForType(t.Parameters()[1], depth+1)
			return &node{kind: kMap, elem: e, celType: cel.MapType(cel.StringType, e.celType)}
		}
	case types.StructKind:
		if n, ok := lookupObject(t.TypeName()); ok {
			return n
		}
	}
	return dynNode
}

// StripStatus returns s without its `status` property (kro declares the
// instance variable `schema` that way), copying only the top level.
func StripStatus(s *spec.Schema) *spec.Schema {
	if s == nil {
		return nil
	}
	if _, ok := s.Properties["status"]; !ok {
		return s
	}
	out := *s
	out.Properties = make(map[string]spec.Schema, len(s.Properties))
	for k, v := range s.Properties {
		if k != "status" {
			out.Properties[k] = v
		}
	}
	return &out
}

// fieldNode resolves a CEL field name (possibly escaped the Kubernetes way,
// e.g. `x__dash__y`) to the property node and its JSON name.
func (n *node) fieldNode(field string) (*node, string, bool) {
	if c, ok := n.props[field]; ok {
		return c, field, true
	}
	if strings.Contains(field, "__") {
		if raw, ok := apiservercel.Unescape(field); ok {
			if c, ok := n.props[raw]; ok {
				return c, raw, true
			}
		}
	}
	return nil, "", false
}
