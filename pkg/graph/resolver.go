package graph

import (
	"errors"
	"fmt"

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

// MissingKinds returns the kinds a build error waits for, if that is why it failed.
func MissingKinds(err error) []schema.GroupVersionKind {
	var be *BuildError
	if errors.As(err, &be) {
		return be.Missing
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
