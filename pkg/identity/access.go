package identity

import (
	"context"
	"fmt"
	"strings"
	"sync"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/trellis-dev/trellis/pkg/graph"
)

// Verbs the instance lifecycle uses on a child: create it (POST), read it
// back before taking fields over, apply later changes, delete it.
var childVerbs = []string{"create", "get", "patch", "delete"}

// Verbs of reading an externalRef, and of a collection's extra reads.
var readVerbs = []string{"get", "list", "watch"}

// Need is what an identity must be allowed on one kind.
type Need struct {
	// ID is the resource's id in the RGD.
	ID  string
	GVK schema.GroupVersionKind
	GVR schema.GroupVersionResource
	// Namespace is where; "" means cluster-wide (cluster-scoped kinds) or
	// every namespace (namespaced kinds whose namespace is not known yet).
	Namespace  string
	Namespaced bool
	Verbs      []string
}

// Needs lists what the graph's instances do with their children and
// externalRefs. instanceNS is the instance's namespace, "" when not known
// (an RGD-time check): children placed in it are then checked across all
// namespaces, since instances may live in any. confined says namespaced
// children can only be in the instance's namespace. A namespace computed by
// an expression is checked across all namespaces at RGD time; at instance
// time it is left to the API server, which authorizes the write itself.
func Needs(g *graph.Graph, instanceNS string, confined bool) []Need {
	var out []Need
	for _, n := range g.Nodes {
		need := Need{ID: n.ID, GVK: n.GVK, GVR: n.GVR, Namespaced: n.Namespaced}
		var ns string
		var literal bool
		if n.External != nil {
			need.Verbs = readVerbs
			if n.External.Namespace != nil {
				ns, literal = n.External.Namespace.Raw, !strings.Contains(n.External.Namespace.Raw, "${")
			}
		} else {
			need.Verbs = childVerbs
			if len(n.ForEach) > 0 {
				need.Verbs = append(append([]string{}, childVerbs...), "list", "watch")
			}
			if md, ok := n.Template["metadata"].(map[string]any); ok {
				if s, ok := md["namespace"].(string); ok {
					ns, literal = s, !strings.Contains(s, "${")
				}
			}
		}
		switch {
		case !n.Namespaced:
		case confined && n.External == nil:
			need.Namespace = instanceNS
		case literal && ns != "":
			need.Namespace = ns
		case ns == "":
			need.Namespace = instanceNS // the instance's, as the renderer defaults it
		case instanceNS != "":
			continue // an expression, known only while rendering
		}
		out = append(out, need)
	}
	return out
}

// ForbiddenError says which permission an identity lacks.
type ForbiddenError struct {
	Identity Ref
	Need     Need
	Verb     string
	// Reason is the authorizer's explanation, if it gave one.
	Reason string
}

func (e *ForbiddenError) Error() string {
	where := "cluster-wide"
	switch {
	case e.Need.Namespaced && e.Need.Namespace == "":
		where = "in all namespaces"
	case e.Need.Namespaced:
		where = "in namespace " + e.Need.Namespace
	}
	res := e.Need.GVR.Resource
	if e.Need.GVR.Group != "" {
		res += "." + e.Need.GVR.Group
	}
	msg := fmt.Sprintf("ServiceAccount %s may not %s %s (%s) %s", e.Identity, e.Verb, e.Need.GVK.Kind, res, where)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

// Reviewer asks the API server (SubjectAccessReview) what an identity may
// do. Allowed answers are remembered until Invalidate (called on RBAC
// changes); denials are always asked again.
type Reviewer struct {
	kube kubernetes.Interface

	mu      sync.Mutex
	allowed map[string]bool
}

// maxRemembered bounds the remembered answers; beyond it they are dropped.
const maxRemembered = 10000

// NewReviewer returns a Reviewer that sends its reviews through kube.
func NewReviewer(kube kubernetes.Interface) *Reviewer {
	return &Reviewer{kube: kube, allowed: map[string]bool{}}
}

// Invalidate forgets every remembered answer.
func (r *Reviewer) Invalidate() {
	r.mu.Lock()
	r.allowed = map[string]bool{}
	r.mu.Unlock()
}

// Check returns a *ForbiddenError for the first permission id lacks, nil
// when it has them all. id must not be per-instance (see Ref.In).
func (r *Reviewer) Check(ctx context.Context, id Ref, needs []Need) error {
	if id.PerInstance() {
		return fmt.Errorf("identity %s: the instance's namespace is not known", id)
	}
	for _, need := range needs {
		for _, verb := range need.Verbs {
			key := strings.Join([]string{id.String(), need.GVR.String(), need.Namespace, verb}, "|")
			r.mu.Lock()
			ok := r.allowed[key]
			r.mu.Unlock()
			if ok {
				continue
			}
			sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
				User:   id.User(),
				Groups: id.Groups(),
				ResourceAttributes: &authzv1.ResourceAttributes{
					Namespace: need.Namespace,
					Verb:      verb,
					Group:     need.GVR.Group,
					Version:   need.GVR.Version,
					Resource:  need.GVR.Resource,
				},
			}}
			res, err := r.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("checking whether ServiceAccount %s may %s %s: %w", id, verb, need.GVR.Resource, err)
			}
			if !res.Status.Allowed {
				return &ForbiddenError{Identity: id, Need: need, Verb: verb, Reason: res.Status.Reason}
			}
			r.mu.Lock()
			if len(r.allowed) >= maxRemembered {
				r.allowed = map[string]bool{}
			}
			r.allowed[key] = true
			r.mu.Unlock()
		}
	}
	return nil
}
