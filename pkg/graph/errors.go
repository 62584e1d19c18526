package graph

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// BuildError is a problem with an RGD, located as precisely as possible.
type BuildError struct {
	// Resource is the id of the resource at fault; empty for schema errors.
	Resource string
	// Path is the field path inside the RGD (e.g. "template.spec.replicas").
	Path string
	Msg  string
	// Missing lists kinds that are not served yet; when it is the only
	// problem the RGD waits for them instead of failing.
	Missing []schema.GroupVersionKind
}

func (e *BuildError) Error() string {
	var b strings.Builder
	if e.Resource != "" {
		fmt.Fprintf(&b, "resource %q: ", e.Resource)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

func errorf(resource, path, format string, args ...any) *BuildError {
	return &BuildError{Resource: resource, Path: path, Msg: fmt.Sprintf(format, args...)}
}
