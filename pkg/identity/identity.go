// Package identity is the per-RGD identity: the ServiceAccount an RGD's
// instances act as when trellis writes and reads their children, whether
// that ServiceAccount may do what the graph needs (SubjectAccessReviews),
// and the clients that impersonate it.
//
// An RGD without an identity (no annotation, no default) is served with
// trellis's own identity, as kro serves every RGD.
package identity

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
)

const (
	// Annotation on an RGD names the ServiceAccount its instances act as:
	// "<namespace>/<name>", or "{instance-namespace}/<name>" for the
	// ServiceAccount of that name in each instance's own namespace.
	Annotation = "trellis.dev/service-account"
	// AllowCrossNamespaceAnnotation ("true") on an RGD lets its namespaced
	// children live outside their instance's namespace when children are
	// confined (--confine-children).
	AllowCrossNamespaceAnnotation = "trellis.dev/allow-cross-namespace"
	// InstanceNamespace stands for each instance's namespace in Annotation.
	InstanceNamespace = "{instance-namespace}"
)

// Ref names a ServiceAccount. Namespace is InstanceNamespace for the one in
// each instance's namespace.
type Ref struct {
	Namespace string
	Name      string
}

// Parse reads "<namespace>/<name>" or "{instance-namespace}/<name>".
func Parse(s string) (Ref, error) {
	ns, name, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok || ns == "" || name == "" {
		return Ref{}, fmt.Errorf("%q: want <namespace>/<name> or %s/<name>", s, InstanceNamespace)
	}
	if ns != InstanceNamespace {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return Ref{}, fmt.Errorf("%q: namespace %q: %s", s, ns, strings.Join(errs, "; "))
		}
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return Ref{}, fmt.Errorf("%q: name %q: %s", s, name, strings.Join(errs, "; "))
	}
	return Ref{Namespace: ns, Name: name}, nil
}

// PerInstance reports whether the ServiceAccount is the one in each
// instance's namespace: it can only be checked once that is known.
func (r Ref) PerInstance() bool { return r.Namespace == InstanceNamespace }

// In resolves a per-instance Ref for an instance in namespace ns.
func (r Ref) In(ns string) Ref {
	if r.PerInstance() {
		return Ref{Namespace: ns, Name: r.Name}
	}
	return r
}

func (r Ref) String() string { return r.Namespace + "/" + r.Name }

// User is the user name the API server knows the ServiceAccount by.
func (r Ref) User() string { return serviceaccount.MakeUsername(r.Namespace, r.Name) }

// Groups are the groups the API server puts a ServiceAccount in.
func (r Ref) Groups() []string {
	return append(serviceaccount.MakeGroupNames(r.Namespace), "system:authenticated")
}

// Policy is the controller-wide identity configuration.
type Policy struct {
	// Default is the identity of RGDs without the annotation (nil: trellis's
	// own, as kro).
	Default *Ref
	// ConfineChildren keeps namespaced children in their instance's
	// namespace unless the RGD allows otherwise.
	ConfineChildren bool
	// Unguarded, when set, is why the admission policy that keeps RGD
	// authors from naming a ServiceAccount they may not impersonate could
	// not be installed: RGDs naming a fixed ServiceAccount are then refused.
	Unguarded error
}

// For returns the identity an RGD with these annotations acts as (nil:
// trellis's own). A malformed annotation is an error naming it: the RGD must
// not fall back to trellis's identity.
func (p Policy) For(annotations map[string]string) (*Ref, error) {
	v, ok := annotations[Annotation]
	if !ok {
		return p.Default, nil
	}
	r, err := Parse(v)
	if err != nil {
		return nil, fmt.Errorf("annotation %s: %w", Annotation, err)
	}
	if p.Unguarded != nil && r.Namespace != InstanceNamespace {
		return nil, fmt.Errorf("annotation %s: a fixed ServiceAccount is refused while trellis cannot install its admission policy %s (%v)", Annotation, PolicyName, p.Unguarded)
	}
	return &r, nil
}

// AllowsCrossNamespace reports whether an RGD with these annotations may
// place namespaced children outside their instance's namespace.
func (p Policy) AllowsCrossNamespace(annotations map[string]string) bool {
	return !p.ConfineChildren || annotations[AllowCrossNamespaceAnnotation] == "true"
}
