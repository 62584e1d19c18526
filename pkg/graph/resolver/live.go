// Package resolver finds the schema and scope of kinds for the graph builder
// from a live cluster: CRD-backed kinds straight from the CRD objects (so a
// kind is usable the moment its CRD is established), built-in kinds from the
// apiserver's OpenAPI v3 documents, cached per group-version.
package resolver

import (
	"context"
	"encoding/json"
	"fmt"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"strings"
	"sync"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"k8s.io/kube-openapi/pkg/validation/spec"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trellis-dev/trellis/pkg/cel"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/graph/resolver/builtin"
)

// Live resolves kinds against a cluster.
type Live struct {
	// CRDs reads CustomResourceDefinitions, normally from an informer cache
	// (which may hold them without their schemas: see SlimCRD).
	CRDs client.Reader
	// Full, if set, reads the one CRD a kind resolves to with its schema
	// (uncached: RGDs are built rarely, and caching every CRD whole costs
	// megabytes per large CRD — kro#724).
	Full      client.Reader
	discovery discovery.CachedDiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper

	mu   sync.Mutex
	docs map[string]*openAPIDoc // by OpenAPI v3 path, e.g. "apis/apps/v1"
}

type openAPIDoc struct {
	Components struct {
		Schemas map[string]*spec.Schema `json:"schemas"`
	} `json:"components"`
}

// NewLive returns a resolver using dc for built-in kinds and crds for
// CRD-backed kinds.
func NewLive(dc discovery.DiscoveryInterface, crds client.Reader) *Live {
	cached := memory.NewMemCacheClient(dc)
	return &Live{
		CRDs:      crds,
		discovery: cached,
		mapper:    restmapper.NewDeferredDiscoveryRESTMapper(cached),
		docs:      map[string]*openAPIDoc{},
	}
}

// Resolve implements graph.Resolver.
func (l *Live) Resolve(gvk schema.GroupVersionKind) (*graph.Kind, error) {
	if k, found, err := l.fromCRD(gvk); found || err != nil {
		return k, err
	}
	return l.builtin(gvk)
}

func (l *Live) fromCRD(gvk schema.GroupVersionKind) (*graph.Kind, bool, error) {
	if gvk.Group == "" || !strings.Contains(gvk.Group, ".") {
		return nil, false, nil // built-in groups have no CRDs
	}
	var list extv1.CustomResourceDefinitionList
	// Only read here: no copy of every CRD per resolved kind.
	if err := l.CRDs.List(context.TODO(), &list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, false, fmt.Errorf("listing CRDs: %w", err)
	}
	for i := range list.Items {
		c := &list.Items[i]
		if c.Spec.Group != gvk.Group || c.Spec.Names.Kind != gvk.Kind {
			continue
		}
		if l.Full != nil {
			full := &extv1.CustomResourceDefinition{}
			if err := l.Full.Get(context.TODO(), client.ObjectKey{Name: c.Name}, full); err != nil {
				if apierrors.IsNotFound(err) {
					return nil, true, &graph.KindNotFoundError{GVK: gvk}
				}
				return nil, true, fmt.Errorf("reading CRD %s: %w", c.Name, err)
			}
			c = full
		}
		if c.DeletionTimestamp != nil || !established(c) {
			return nil, true, &graph.KindNotFoundError{GVK: gvk}
		}
		for _, v := range c.Spec.Versions {
			if v.Name != gvk.Version || !v.Served {
				continue
			}
			k := &graph.Kind{
				GVR:        gvk.GroupVersion().WithResource(c.Spec.Names.Plural),
				Namespaced: c.Spec.Scope == extv1.NamespaceScoped,
			}
			if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
				s, err := cel.SchemaFromCRD(v.Schema.OpenAPIV3Schema)
				if err != nil {
					return nil, true, fmt.Errorf("schema of %s: %w", c.Name, err)
				}
				k.Schema = s
			}
			return k, true, nil
		}
		return nil, true, &graph.KindNotFoundError{GVK: gvk}
	}
	return nil, false, nil
}

// SlimCRD is a cache transform that keeps of a CRD what watching it needs
// (names, scope, versions, conditions, labels) and drops the schemas and
// managed fields, most of its size; Live.Full reads a schema when needed.
func SlimCRD(obj any) (any, error) {
	c, ok := obj.(*extv1.CustomResourceDefinition)
	if !ok {
		return obj, nil
	}
	c.ManagedFields = nil
	delete(c.Annotations, "kubectl.kubernetes.io/last-applied-configuration")
	for i := range c.Spec.Versions {
		c.Spec.Versions[i].Schema = nil
	}
	return c, nil
}

func established(c *extv1.CustomResourceDefinition) bool {
	for _, cond := range c.Status.Conditions {
		if cond.Type == extv1.Established {
			return cond.Status == extv1.ConditionTrue
		}
	}
	return false
}

func (l *Live) builtin(gvk schema.GroupVersionKind) (*graph.Kind, error) {
	mapping, err := l.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		l.mapper.Reset()
		mapping, err = l.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if meta.IsNoMatchError(err) {
		return nil, l.notFound(gvk)
	}
	if err != nil {
		return nil, err
	}
	s, err := l.openAPISchema(gvk)
	if err != nil {
		return nil, err
	}
	return &graph.Kind{
		GVR:        mapping.Resource,
		Namespaced: mapping.Scope.Name() == meta.RESTScopeNameNamespace,
		Schema:     s,
	}, nil
}

// notFound explains a kind discovery does not know. In a built-in
// group-version the API server serves, it never will be (a typo): an
// UnknownKindError. Anywhere else a CRD or an aggregated API may still add
// it: a KindNotFoundError, which the RGD waits for.
func (l *Live) notFound(gvk schema.GroupVersionKind) error {
	gv := gvk.GroupVersion()
	if !builtin.Has(gv) {
		return &graph.KindNotFoundError{GVK: gvk}
	}
	list, err := l.discovery.ServerResourcesForGroupVersion(gv.String())
	if err != nil {
		return &graph.KindNotFoundError{GVK: gvk} // not served here: an aggregated API may serve it
	}
	var known []string
	for _, r := range list.APIResources {
		if !strings.Contains(r.Name, "/") {
			known = append(known, r.Kind)
		}
	}
	return &graph.UnknownKindError{GVK: gvk, Known: known}
}

func (l *Live) openAPISchema(gvk schema.GroupVersionKind) (*spec.Schema, error) {
	path := "apis/" + gvk.Group + "/" + gvk.Version
	if gvk.Group == "" {
		path = "api/" + gvk.Version
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	doc, ok := l.docs[path]
	if !ok {
		paths, err := l.discovery.OpenAPIV3().Paths()
		if err != nil {
			return nil, fmt.Errorf("openapi discovery: %w", err)
		}
		gv, ok := paths[path]
		if !ok {
			return nil, &graph.KindNotFoundError{GVK: gvk}
		}
		raw, err := gv.Schema("application/json")
		if err != nil {
			return nil, fmt.Errorf("openapi %s: %w", path, err)
		}
		doc = &openAPIDoc{}
		if err := json.Unmarshal(raw, doc); err != nil {
			return nil, fmt.Errorf("openapi %s: %w", path, err)
		}
		l.docs[path] = doc
	}
	for name, s := range doc.Components.Schemas {
		var gvks []schema.GroupVersionKind
		if err := s.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks); err != nil {
			continue
		}
		for _, g := range gvks {
			if g == gvk {
				return resolver.PopulateRefs(func(ref string) (*spec.Schema, bool) {
					s, ok := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
					return s, ok
				}, name)
			}
		}
	}
	return nil, &graph.KindNotFoundError{GVK: gvk}
}
