// Package builtin resolves the built-in Kubernetes kinds without a cluster:
// their discovery data (plural, scope) and OpenAPI v3 schemas are compiled
// into the binary, one gzip-compressed JSON file per group-version, dumped
// from a real kube-apiserver by ./gen.
//
// Regenerate after a Kubernetes upgrade with
//
//	go generate ./pkg/graph/resolver/builtin
package builtin

//go:generate go run ./gen -out data

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/cel/openapi/resolver"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/trellis-dev/trellis/pkg/graph"
)

// File is the stored form of one group-version.
type File struct {
	GroupVersion string     `json:"groupVersion"`
	Resources    []Resource `json:"resources"`
	// Schemas are the OpenAPI v3 document's components.schemas.
	Schemas map[string]any `json:"schemas"`
}

// Resource is one kind of a group-version, from discovery.
type Resource struct {
	Kind       string `json:"kind"`
	Plural     string `json:"plural"`
	Namespaced bool   `json:"namespaced"`
}

// FileName is the data file of a group-version.
func FileName(gv string) string {
	return strings.ReplaceAll(gv, "/", "_") + ".json.gz"
}

// GroupVersions lists the compiled-in group-versions.
func GroupVersions() []string {
	entries, _ := data.ReadDir("data")
	var out []string
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json.gz")
		out = append(out, strings.ReplaceAll(name, "_", "/"))
	}
	return out
}

//go:embed data/*.json.gz
var data embed.FS

type loaded struct {
	resources map[string]Resource // by kind
	schemas   map[string]*spec.Schema
}

// Resolver resolves built-in kinds from the compiled-in data. The zero value
// is not usable; use New. It is safe for concurrent use.
type Resolver struct {
	mu  sync.Mutex
	gvs map[string]*loaded
}

// New returns a resolver over the compiled-in group-versions.
func New() *Resolver {
	return &Resolver{gvs: map[string]*loaded{}}
}

// Has reports whether a group-version is compiled in.
func Has(gv schema.GroupVersion) bool {
	_, err := data.Open("data/" + FileName(gv.String()))
	return err == nil
}

func (r *Resolver) load(gv string) (*loaded, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.gvs[gv]; ok {
		return l, nil
	}
	raw, err := data.ReadFile("data/" + FileName(gv))
	if err != nil {
		r.gvs[gv] = nil
		return nil, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("builtin schemas of %s: %w", gv, err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("builtin schemas of %s: %w", gv, err)
	}
	var f struct {
		Resources []Resource              `json:"resources"`
		Schemas   map[string]*spec.Schema `json:"schemas"`
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		return nil, fmt.Errorf("builtin schemas of %s: %w", gv, err)
	}
	l := &loaded{resources: map[string]Resource{}, schemas: f.Schemas}
	for _, res := range f.Resources {
		l.resources[res.Kind] = res
	}
	r.gvs[gv] = l
	return l, nil
}

// Resolve implements graph.Resolver. Kinds outside the compiled-in
// group-versions are reported as *graph.KindNotFoundError.
func (r *Resolver) Resolve(gvk schema.GroupVersionKind) (*graph.Kind, error) {
	l, err := r.load(gvk.GroupVersion().String())
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, &graph.KindNotFoundError{GVK: gvk}
	}
	res, ok := l.resources[gvk.Kind]
	if !ok {
		return nil, &graph.KindNotFoundError{GVK: gvk}
	}
	for name, s := range l.schemas {
		var gvks []schema.GroupVersionKind
		if err := s.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks); err != nil {
			continue
		}
		for _, g := range gvks {
			if g != gvk {
				continue
			}
			full, err := resolver.PopulateRefs(func(ref string) (*spec.Schema, bool) {
				s, ok := l.schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
				return s, ok
			}, name)
			if err != nil {
				return nil, fmt.Errorf("schema of %s: %w", gvk, err)
			}
			return &graph.Kind{
				GVR:        gvk.GroupVersion().WithResource(res.Plural),
				Namespaced: res.Namespaced,
				Schema:     full,
			}, nil
		}
	}
	return nil, &graph.KindNotFoundError{GVK: gvk}
}

// Kinds lists the compiled-in kinds of a group-version (for help texts).
func (r *Resolver) Kinds(gv string) []string {
	l, _ := r.load(gv)
	if l == nil {
		return nil
	}
	out := make([]string, 0, len(l.resources))
	for k := range l.resources {
		out = append(out, k)
	}
	return out
}
