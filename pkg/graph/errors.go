package graph

import (
	"errors"
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

// BuildErrors are all the problems of an RGD, when it has several; Build
// returns a single *BuildError when it has one.
type BuildErrors []*BuildError

func (e BuildErrors) Error() string {
	parts := make([]string, len(e))
	for i, be := range e {
		parts[i] = be.Error()
	}
	return strings.Join(parts, "; ")
}

// Problems lists the build errors err carries (nil if it is not one).
func Problems(err error) []*BuildError {
	var many BuildErrors
	if errors.As(err, &many) {
		return many
	}
	var one *BuildError
	if errors.As(err, &one) {
		return []*BuildError{one}
	}
	return nil
}

// joinErrors turns collected errors into nil, one *BuildError or
// BuildErrors (flattened).
func joinErrors(errs []error) error {
	var out BuildErrors
	for _, err := range errs {
		if err == nil {
			continue
		}
		if ps := Problems(err); ps != nil {
			out = append(out, ps...)
			continue
		}
		out = append(out, &BuildError{Msg: err.Error()})
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return out
}
