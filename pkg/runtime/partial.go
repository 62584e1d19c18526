package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/trellis-dev/trellis/pkg/cel"
	"github.com/trellis-dev/trellis/pkg/graph"
)

// Unresolved is a template field whose expressions cannot be evaluated yet
// (their data is not observed), reported by RenderPartial.
type Unresolved struct {
	// Path is the field path in the rendered object, e.g. "spec.replicas"
	// or "spec.ports[0].targetPort".
	Path string
	// Raw is the template string as written in the RGD.
	Raw string
	// Keys is Path split exactly: map keys (string) and list indices (int),
	// for keys that contain dots (e.g. the label app.kubernetes.io/name).
	Keys []any
	// Reason is the pending error.
	Reason string
	// Instance: the expressions read no resource, only the instance (and
	// iterators), so nothing observed can resolve the field: the instance
	// lacks the data. The controller waits for the instance to change.
	Instance bool
}

// RenderPartial renders like Render, except that fields whose expressions
// wait for data (ErrPending) are left out of the object and listed instead
// of failing the whole render. Other errors fail as in Render. When nothing
// is unresolved the object is exactly Render's. Used by `trellis render` to
// show what can be known before anything exists.
func (r *Instance) RenderPartial(n *graph.Node) (*unstructured.Unstructured, []Unresolved, error) {
	obj, err := r.Render(n)
	if err == nil || !errors.Is(err, ErrPending) {
		return obj, nil, err
	}
	return r.renderPartialWith(n, r.snapshot(), nil)
}

// RenderItemPartial is RenderPartial for one item of a collection (see
// RenderItem).
func (r *Instance) RenderItemPartial(n *graph.Node, item Item, size int) (*unstructured.Unstructured, []Unresolved, error) {
	obj, err := r.RenderItem(n, item, size)
	if err == nil || !errors.Is(err, ErrPending) {
		return obj, nil, err
	}
	vars := r.snapshot()
	for k, v := range item.Bindings {
		vars[k] = v
	}
	return r.renderPartialWith(n, vars, map[string]string{
		LabelCollectionIndex: strconv.Itoa(item.Index),
		LabelCollectionSize:  strconv.Itoa(size),
	})
}

func (r *Instance) renderPartialWith(n *graph.Node, vars map[string]any, extraLabels map[string]string) (*unstructured.Unstructured, []Unresolved, error) {
	var unresolved []Unresolved
	out := r.renderPartial(n, n.Template, vars, "", nil, &unresolved)
	obj := &unstructured.Unstructured{Object: out.(map[string]any)}
	if n.Namespaced && obj.GetNamespace() == "" && !hasUnresolved(unresolved, "metadata.namespace") {
		obj.SetNamespace(r.obj.GetNamespace())
	}
	r.stamp(n, obj, extraLabels)
	sort.Slice(unresolved, func(i, j int) bool { return unresolved[i].Path < unresolved[j].Path })
	return obj, unresolved, nil
}

func hasUnresolved(list []Unresolved, path string) bool {
	for _, u := range list {
		if u.Path == path {
			return true
		}
	}
	return false
}

// unresolvedValue marks a dropped field while walking.
type unresolvedValue struct{}

func (r *Instance) renderPartial(n *graph.Node, v any, vars map[string]any, path string, keys []any, acc *[]Unresolved) any {
	switch val := v.(type) {
	case string:
		f, ok := n.Fields[val]
		if !ok {
			return val
		}
		out, err := r.evalField(f, vars)
		if err != nil {
			*acc = append(*acc, Unresolved{Path: path, Keys: append([]any(nil), keys...), Raw: val, Reason: err.Error(), Instance: r.readsNoResource(f)})
			return unresolvedValue{}
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(val))
		for k, child := range val {
			p := k
			if path != "" {
				p = path + "." + k
			}
			c := r.renderPartial(n, child, vars, p, append(keys[:len(keys):len(keys)], k), acc)
			if c == cel.Omit {
				continue
			}
			if _, drop := c.(unresolvedValue); drop {
				continue
			}
			out[k] = c
		}
		return out
	case []any:
		out := make([]any, 0, len(val))
		for i, child := range val {
			c := r.renderPartial(n, child, vars, fmt.Sprintf("%s[%d]", path, i), append(keys[:len(keys):len(keys)], i), acc)
			if c == cel.Omit {
				continue
			}
			if _, drop := c.(unresolvedValue); drop {
				continue
			}
			out = append(out, c)
		}
		return out
	default:
		return v
	}
}

// DesiredHash fingerprints a desired object the way the instance controller
// records it in AnnotationDesiredHash: SHA-256 of its JSON encoding (map
// keys sorted), first 12 bytes in hex.
func DesiredHash(u *unstructured.Unstructured) string {
	raw, _ := json.Marshal(u.Object)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:12])
}

// readsNoResource reports whether a field's expressions read no resource of
// the graph (only the instance, iterators and kro's runtime library).
func (r *Instance) readsNoResource(f *graph.Field) bool {
	for _, p := range f.Parts {
		if p.Program == nil {
			continue
		}
		for ref := range p.Program.References {
			if _, isNode := r.g.ByID[ref]; isNode {
				return false
			}
		}
	}
	return true
}
