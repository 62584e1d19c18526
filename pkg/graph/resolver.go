package graph

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// Kind is what the builder needs to know about a kind a template uses.
type Kind struct {
	GVR        schema.GroupVersionResource
	Namespaced bool
	// Schema is the kind's OpenAPI schema with references resolved; nil
	// means "accept anything" (no type checking).
	Schema *spec.Schema
}

// Resolver finds kinds by GroupVersionKind.
type Resolver interface {
	Resolve(gvk schema.GroupVersionKind) (*Kind, error)
}

// KindNotFoundError means the kind is not served (yet). The RGD controller
// treats it as "waiting for the kind", not as a broken graph.
type KindNotFoundError struct {
	GVK schema.GroupVersionKind
}

func (e *KindNotFoundError) Error() string {
	return fmt.Sprintf("kind %s is not served by the cluster", kindString(e.GVK))
}

// UnknownKindError means the kind can never be served: its group-version is
// a built-in one the API server serves, and no CRD or aggregated API can add
// a kind to it (a typo such as v1/Servise). Unlike KindNotFoundError, the
// RGD does not wait for it.
type UnknownKindError struct {
	GVK schema.GroupVersionKind
	// Known lists the kinds the group-version does have, for a suggestion.
	Known []string
}

func (e *UnknownKindError) Error() string {
	msg := fmt.Sprintf("unknown kind %s: %s is a built-in group-version, served by the API server without that kind, and no CRD can add one to it",
		kindString(e.GVK), e.GVK.GroupVersion().String())
	if s := closestKind(e.GVK.Kind, e.Known); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return msg
}

// closestKind suggests the known kind nearest to kind (case-insensitive
// edit distance at most 2), or "".
func closestKind(kind string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(kind), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// MissingKinds returns the kinds a build error waits for, if that is why it failed.
// Only when every problem is a missing kind: any other problem makes the
// RGD invalid, not waiting.
func MissingKinds(err error) []schema.GroupVersionKind {
	if ps := Problems(err); ps != nil {
		var out []schema.GroupVersionKind
		for _, p := range ps {
			if len(p.Missing) == 0 {
				return nil
			}
			out = append(out, p.Missing...)
		}
		return out
	}
	var nf *KindNotFoundError
	if errors.As(err, &nf) {
		return []schema.GroupVersionKind{nf.GVK}
	}
	return nil
}

func kindString(gvk schema.GroupVersionKind) string {
	if gvk.Group == "" {
		return gvk.Version + "/" + gvk.Kind
	}
	return gvk.Group + "/" + gvk.Version + "/" + gvk.Kind
}
