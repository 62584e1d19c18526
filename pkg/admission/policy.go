// Package admission keeps, per ResourceGraphDefinition, a
// MutatingAdmissionPolicy that stamps every new instance with trellis's
// finalizer, labels and annotations while the API server admits its
// creation. Without it the instance controller spends one metadata write
// on every new instance (kro does, for the same finalizer and labels); with
// it an instance costs exactly the writes of its children and its status.
// Instances the policy missed (created before it took effect, or on a
// cluster without the API) still get the controller's metadata patch, so
// the policy only ever saves work.
package admission

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// Stamp is the metadata a new instance must carry before any child exists.
type Stamp struct {
	Finalizer   string
	Labels      map[string]string
	Annotations map[string]string
}

// annotationSpecHash fingerprints the desired policy, so an unchanged policy
// is never written (the API server defaults fields, so comparing specs
// would always differ).
const annotationSpecHash = "trellis.dev/spec-hash"

// PolicyName names the policy and its binding after the RGD.
func PolicyName(rgdName string) string {
	name := "trellis-" + rgdName
	if len(name) > 253 {
		name = strings.TrimRight(name[:253], ".-") // a DNS subdomain ends alphanumeric
	}
	return name
}

// Owner identifies the RGD a policy belongs to; its ownerReference lets the
// garbage collector remove the policy with the RGD.
type Owner struct {
	Name string
	UID  types.UID
}

// Build returns the policy that stamps s onto instances of gvr at creation,
// and its binding.
func Build(owner Owner, gvr schema.GroupVersionResource, s Stamp) (*admv1.MutatingAdmissionPolicy, *admv1.MutatingAdmissionPolicyBinding) {
	name := PolicyName(owner.Name)
	ignore := admv1.Ignore // a failed stamp must not block creation: the controller patches instead
	spec := admv1.MutatingAdmissionPolicySpec{
		FailurePolicy:      &ignore,
		ReinvocationPolicy: admv1.NeverReinvocationPolicy,
		MatchConstraints: &admv1.MatchResources{
			ResourceRules: []admv1.NamedRuleWithOperations{{RuleWithOperations: admv1.RuleWithOperations{
				Operations: []admv1.OperationType{admv1.Create},
				Rule: admv1.Rule{
					APIGroups:   []string{gvr.Group},
					APIVersions: []string{gvr.Version},
					Resources:   []string{gvr.Resource},
				},
			}}},
		},
		Mutations: []admv1.Mutation{{
			PatchType: admv1.PatchTypeJSONPatch,
			JSONPatch: &admv1.JSONPatch{Expression: Expression(s)},
		}},
	}
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{
			Name: name,
			Labels: map[string]string{
				trt.LabelOwned:   "true",
				trt.LabelRGDName: owner.Name,
				trt.LabelRGDID:   string(owner.UID),
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1alpha1.GroupVersion.String(),
				Kind:       "ResourceGraphDefinition",
				Name:       owner.Name,
				UID:        owner.UID,
			}},
		}
	}
	policy := &admv1.MutatingAdmissionPolicy{ObjectMeta: meta(), Spec: spec}
	binding := &admv1.MutatingAdmissionPolicyBinding{ObjectMeta: meta(), Spec: admv1.MutatingAdmissionPolicyBindingSpec{PolicyName: name}}
	policy.Annotations = map[string]string{annotationSpecHash: specHash(policy.Spec)}
	binding.Annotations = map[string]string{annotationSpecHash: specHash(binding.Spec)}
	return policy, binding
}

func specHash(spec any) string {
	b, _ := json.Marshal(spec)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Expression is the CEL that yields the JSON patch adding s to the object
// being created, leaving every label, annotation and finalizer the user set
// in place.
func Expression(s Stamp) string {
	f := celString(s.Finalizer)
	parts := []string{fmt.Sprintf(`(!has(object.metadata.finalizers) ? [JSONPatch{op: "add", path: "/metadata/finalizers", value: [%[1]s]}] : `+
		`object.metadata.finalizers.exists(f, f == %[1]s) ? [] : [JSONPatch{op: "add", path: "/metadata/finalizers/-", value: %[1]s}])`, f)}
	for _, m := range []struct {
		field string
		kv    map[string]string
	}{{"labels", s.Labels}, {"annotations", s.Annotations}} {
		if len(m.kv) > 0 {
			parts = append(parts, mapPatch(m.field, m.kv))
		}
	}
	return strings.Join(parts, " + ")
}

// mapPatch adds the entries of kv to metadata.<field>: the whole map when
// the object has none, key by key otherwise (a stamped key wins).
func mapPatch(field string, kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	whole := make([]string, len(keys))
	each := make([]string, len(keys))
	for i, k := range keys {
		whole[i] = celString(k) + ": " + celString(kv[k])
		each[i] = fmt.Sprintf(`JSONPatch{op: "add", path: "/metadata/%s/" + jsonpatch.escapeKey(%s), value: %s}`, field, celString(k), celString(kv[k]))
	}
	return fmt.Sprintf(`(!has(object.metadata.%[1]s) ? [JSONPatch{op: "add", path: "/metadata/%[1]s", value: {%[2]s}}] : [%[3]s])`,
		field, strings.Join(whole, ", "), strings.Join(each, ", "))
}

// celString quotes s as a CEL string literal (Go's escapes are a subset of
// CEL's for the printable text labels and annotations hold).
func celString(s string) string { return strconv.Quote(s) }

// Policies creates, updates and removes the stamping policies. When the API
// server does not serve MutatingAdmissionPolicies (before Kubernetes 1.36,
// or with the API turned off), or trellis may not write them, it turns
// itself off once, and the instance controller's metadata patch does the job.
type Policies struct {
	kube        kubernetes.Interface
	log         logr.Logger
	unavailable atomic.Bool

	// Settle is how long a kind must have been in the API server's
	// /openapi/v3 before its first binding is created (see Ensure).
	Settle time.Duration
	// published records when each kind was first seen in /openapi/v3.
	published sync.Map // schema.GroupVersionKind → time.Time
}

// DefaultSettle covers two refreshes of the API server's admission type
// converter, which re-reads /openapi/v3 every 5 s.
const DefaultSettle = 11 * time.Second

// NewPolicies returns a policy manager writing through kube.
func NewPolicies(kube kubernetes.Interface, log logr.Logger) *Policies {
	return &Policies{kube: kube, log: log, Settle: DefaultSettle}
}

// Ensure makes the policy and binding for owner's instances (of kind gvk,
// served as gvr) match s, writing only what differs.
//
// A bound policy that matches a kind the API server's admission type
// converter has not yet read from /openapi/v3 fails every create of that
// kind with 503 "Resource kind … not found". So the first binding of a new
// kind waits until the kind has been published for Settle; Ensure then
// returns how long to wait before calling again. Until the binding exists
// the instance controller stamps new instances with its own patch.
func (p *Policies) Ensure(ctx context.Context, owner Owner, gvk schema.GroupVersionKind, gvr schema.GroupVersionResource, s Stamp) (time.Duration, error) {
	if p.unavailable.Load() {
		return 0, nil
	}
	policy, binding := Build(owner, gvr, s)
	api := p.kube.AdmissionregistrationV1()
	var wait time.Duration
	err := ensure(ctx, policy, api.MutatingAdmissionPolicies())
	if err == nil {
		_, err = api.MutatingAdmissionPolicyBindings().Get(ctx, binding.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			wait, err = p.untilSettled(ctx, gvk)
		}
	}
	if err == nil && wait == 0 {
		err = ensure(ctx, binding, api.MutatingAdmissionPolicyBindings())
	}
	switch {
	case apierrors.IsNotFound(err):
		// Create answers NotFound only when the resource is not served.
		p.unavailable.Store(true)
		p.log.Info("MutatingAdmissionPolicy is not served: new instances get their finalizer and labels with a patch", "error", err.Error())
		return 0, nil
	case apierrors.IsForbidden(err):
		p.unavailable.Store(true)
		p.log.Info("not allowed to manage MutatingAdmissionPolicies (grant get, create, update, delete on mutatingadmissionpolicies and mutatingadmissionpolicybindings): new instances get their finalizer and labels with a patch", "error", err.Error())
		return 0, nil
	}
	return wait, err
}

// untilSettled returns how much longer gvk must stay published in
// /openapi/v3 before a policy may match it (0: it may now).
func (p *Policies) untilSettled(ctx context.Context, gvk schema.GroupVersionKind) (time.Duration, error) {
	if seen, ok := p.published.Load(gvk); ok {
		return max(0, p.Settle-time.Since(seen.(time.Time))), nil
	}
	ok, err := inOpenAPI(p.kube, gvk)
	if err != nil {
		return 0, fmt.Errorf("reading /openapi/v3 for %s: %w", gvk, err)
	}
	if !ok {
		return time.Second, nil // the API server publishes a new CRD within moments
	}
	p.published.Store(gvk, time.Now())
	if p.Settle <= 0 {
		return 0, nil
	}
	return p.Settle, nil
}

// inOpenAPI reports whether the API server's OpenAPI v3 document for gvk's
// group-version describes gvk.
func inOpenAPI(kube kubernetes.Interface, gvk schema.GroupVersionKind) (bool, error) {
	paths, err := kube.Discovery().OpenAPIV3().Paths()
	if err != nil {
		return false, err
	}
	prefix := "apis/"
	if gvk.Group == "" {
		prefix = "api/"
	}
	gv, ok := paths[prefix+gvk.GroupVersion().String()]
	if !ok {
		return false, nil
	}
	raw, err := gv.Schema("application/json")
	if err != nil {
		return false, err
	}
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				GVKs []struct{ Group, Version, Kind string } `json:"x-kubernetes-group-version-kind"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return false, err
	}
	for _, sch := range doc.Components.Schemas {
		for _, k := range sch.GVKs {
			if k.Group == gvk.Group && k.Version == gvk.Version && k.Kind == gvk.Kind {
				return true, nil
			}
		}
	}
	return false, nil
}

// Remove deletes the policy and binding of an RGD; instances created from
// now on are not stamped.
func (p *Policies) Remove(ctx context.Context, rgdName string) error {
	if p.unavailable.Load() {
		return nil
	}
	name := PolicyName(rgdName)
	api := p.kube.AdmissionregistrationV1()
	if err := api.MutatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting MutatingAdmissionPolicyBinding %s: %w", name, err)
	}
	if err := api.MutatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting MutatingAdmissionPolicy %s: %w", name, err)
	}
	return nil
}

// object is what ensure needs of a policy or a binding.
type object interface {
	*admv1.MutatingAdmissionPolicy | *admv1.MutatingAdmissionPolicyBinding
	metav1.Object
}

// store is the client-go surface ensure uses, the same for both kinds.
type store[T object] interface {
	Get(ctx context.Context, name string, o metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, o metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, o metav1.UpdateOptions) (T, error)
}

// ensure creates want, or replaces the live object when its spec hash
// differs. NotFound from Create is returned as is (the API is not served).
func ensure[T object](ctx context.Context, want T, api store[T]) error {
	live, err := api.Get(ctx, want.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s: %w (retrying)", want.GetName(), err)
		}
		return err
	}
	if err != nil {
		return err
	}
	if live.GetAnnotations()[annotationSpecHash] == want.GetAnnotations()[annotationSpecHash] {
		return nil
	}
	want.SetResourceVersion(live.GetResourceVersion())
	if _, err := api.Update(ctx, want, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating %s: %w", want.GetName(), err)
	}
	return nil
}
