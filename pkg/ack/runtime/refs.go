package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// ReferenceResolver is implemented by managers of kinds with *Ref fields
// (e.g. Subnet vpcRef, DBInstance vpcSecurityGroupRefs) or with values read
// from Kubernetes Secrets (e.g. DBInstance masterUserPassword).
type ReferenceResolver[T Object] interface {
	// ResolveReferences copies the referenced values into obj's concrete
	// fields, in memory only: the spec on the API server keeps the *Ref.
	// It returns the errors of refs (ReferenceError, TerminalError) as is.
	ResolveReferences(ctx context.Context, refs *Refs, obj T) error
	// ClearResolvedReferences zeroes the concrete fields whose *Ref is set,
	// before a spec is written back to the API server.
	ClearResolvedReferences(obj T)
}

// ReferenceWait is how often a resource waiting on a reference looks again.
const ReferenceWait = 3 * time.Second

// ReferenceError means a referenced resource is missing, not yet synced or
// lacks the value: the resource waits (ACK.Recoverable, ACK.ReferencesResolved
// Unknown) and nothing is created meanwhile.
type ReferenceError struct{ Msg string }

func (e *ReferenceError) Error() string { return e.Msg }

// Refs resolves the references of one resource. Reads go to the API server
// (not a cache), so a reference is seen as soon as it is synced.
type Refs struct {
	Reader client.Reader
	// Namespace is the referencing resource's namespace; references to
	// other namespaces are refused, as in ACK without --enable-cross-namespace.
	Namespace string
	// Used is set once any reference was looked at; it makes the
	// ACK.ReferencesResolved condition appear.
	Used bool
}

// Exclusive refuses a spec that sets both a concrete field and its *Ref.
func Exclusive(field string, fieldSet bool, refField string, refSet bool) error {
	if fieldSet && refSet {
		return Terminal("spec.%s and spec.%s are mutually exclusive: set only one", field, refField)
	}
	return nil
}

// Resolve returns the string at path (e.g. "status", "id") of the ACK
// resource of kind gvk that ref names, once that resource is synced. field
// is the *Ref's spec path, for messages (e.g. "vpcRef").
func (r *Refs) Resolve(ctx context.Context, field string, ref *ackv1alpha1.ResourceReference, gvk schema.GroupVersionKind, path ...string) (string, error) {
	r.Used = true
	if ref == nil || ref.From == nil || ref.From.Name == nil || *ref.From.Name == "" {
		return "", Terminal("spec.%s: from.name is required", field)
	}
	name := *ref.From.Name
	if err := r.sameNamespace(field, ref.From.Namespace); err != nil {
		return "", err
	}
	what := fmt.Sprintf("spec.%s: %s %s/%s", field, gvk.Kind, r.Namespace, name)
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return "", &ReferenceError{Msg: what + " does not exist yet"}
		}
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if condition(u, ackv1alpha1.ConditionTypeTerminal) == corev1.ConditionTrue {
		return "", Terminal("%s is Terminal", what)
	}
	if condition(u, ackv1alpha1.ConditionTypeResourceSynced) != corev1.ConditionTrue {
		return "", &ReferenceError{Msg: what + " is not synced yet"}
	}
	v, found, err := unstructured.NestedFieldNoCopy(u.Object, path...)
	s, ok := v.(string)
	if err != nil || !found || !ok || s == "" {
		return "", &ReferenceError{Msg: fmt.Sprintf("%s has no %s yet", what, strings.Join(path, "."))}
	}
	return s, nil
}

// ResolveAll resolves a list of references (e.g. subnetRefs) in order.
func (r *Refs) ResolveAll(ctx context.Context, field string, refs []*ackv1alpha1.ResourceReference, gvk schema.GroupVersionKind, path ...string) ([]string, error) {
	out := make([]string, 0, len(refs))
	for i, ref := range refs {
		v, err := r.Resolve(ctx, fmt.Sprintf("%s[%d]", field, i), ref, gvk, path...)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// SecretValue returns one key of a Kubernetes Secret. field is the spec
// path, for messages (e.g. "masterUserPassword"). A missing Secret or key
// waits: it may be created after the resource.
func (r *Refs) SecretValue(ctx context.Context, field string, ref *ackv1alpha1.SecretKeyReference) (string, error) {
	v, _, err := r.SecretValueVersion(ctx, field, ref)
	return v, err
}

// SecretValueVersion is SecretValue plus the Secret's resourceVersion, for
// kinds that rewrite the value only when the Secret changed, without
// keeping any digest of the value.
func (r *Refs) SecretValueVersion(ctx context.Context, field string, ref *ackv1alpha1.SecretKeyReference) (value, resourceVersion string, err error) {
	if ref == nil || ref.Name == "" || ref.Key == "" {
		return "", "", Terminal("spec.%s: name and key are required", field)
	}
	ns := ref.Namespace
	if ns == "" {
		ns = r.Namespace
	}
	if err := r.sameNamespace(field, &ns); err != nil {
		return "", "", err
	}
	what := fmt.Sprintf("spec.%s: Secret %s/%s", field, ns, ref.Name)
	sec := &corev1.Secret{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", &ReferenceError{Msg: what + " does not exist yet"}
		}
		return "", "", fmt.Errorf("%s: %w", what, err)
	}
	v, ok := sec.Data[ref.Key]
	if !ok {
		return "", "", &ReferenceError{Msg: fmt.Sprintf("%s has no key %q", what, ref.Key)}
	}
	return string(v), sec.ResourceVersion, nil
}

func (r *Refs) sameNamespace(field string, ns *string) error {
	if ns != nil && *ns != "" && *ns != r.Namespace {
		return Terminal("spec.%s: a reference to namespace %q from namespace %q is not allowed (cross-namespace references are off)", field, *ns, r.Namespace)
	}
	return nil
}

// condition returns the status of condition t of an ACK resource, or "".
func condition(u *unstructured.Unstructured, t ackv1alpha1.ConditionType) corev1.ConditionStatus {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == string(t) {
			s, _ := m["status"].(string)
			return corev1.ConditionStatus(s)
		}
	}
	return ""
}

// refState is the ACK.ReferencesResolved status after resolution.
func refState(used bool, err error) (corev1.ConditionStatus, string) {
	if !used {
		return "", ""
	}
	var re *ReferenceError
	var te *TerminalError
	switch {
	case err == nil:
		return corev1.ConditionTrue, ""
	case errors.As(err, &te):
		return corev1.ConditionFalse, te.Msg
	case errors.As(err, &re):
		return corev1.ConditionUnknown, re.Msg
	default:
		return corev1.ConditionUnknown, err.Error()
	}
}
