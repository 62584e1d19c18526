package instance

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/identity"
)

// ReasonForbidden is the reason of an instance condition (and of the RGD's
// GraphAccepted) when the RGD's identity lacks a permission the graph needs.
const ReasonForbidden = "Forbidden"

// childAccess is how one reconcile reaches an instance's children: with the
// client of the RGD's identity (trellis's own when it has none), and, when
// children are confined, only in the instance's namespace.
type childAccess struct {
	dyn dynamic.Interface
	// own is set when dyn is trellis's own client (no RGD identity).
	own bool
	// confineTo is the only namespace namespaced children may use ("": any).
	confineTo string
}

// access resolves the identity of reg for an instance in namespace ns. A
// per-instance identity is checked here (SubjectAccessReviews, remembered
// until RBAC changes), as the RGD controller checks fixed ones.
func (c *Controller) access(ctx context.Context, reg *registration, ns string) (childAccess, error) {
	a := childAccess{dyn: c.dyn, own: true}
	if !reg.crossNamespace {
		a.confineTo = ns
	}
	if reg.identity == nil || c.opts.Clients == nil {
		return a, nil
	}
	id := reg.identity.In(ns)
	if reg.identity.PerInstance() && reg.graph != nil && c.opts.Access != nil {
		if err := c.opts.Access.Check(ctx, id, identity.Needs(reg.graph, ns, !reg.crossNamespace)); err != nil {
			return a, err
		}
	}
	dyn, err := c.opts.Clients.For(id)
	if err != nil {
		return a, err
	}
	a.dyn, a.own = dyn, false
	return a, nil
}

// deleteAccess is access for removing children: no permission check (the
// API server still authorizes each delete as the identity).
func (c *Controller) deleteAccess(reg *registration, ns string) (childAccess, error) {
	a := childAccess{dyn: c.dyn, own: true}
	if reg == nil || reg.identity == nil || c.opts.Clients == nil {
		return a, nil
	}
	dyn, err := c.opts.Clients.For(reg.identity.In(ns))
	if err != nil {
		return a, err
	}
	a.dyn, a.own = dyn, false
	return a, nil
}

// confined returns why a rendered child may not be written, "" if it may.
func (a childAccess) confined(n *graph.Node, desired *unstructured.Unstructured) string {
	if a.confineTo == "" || !n.Namespaced || desired.GetNamespace() == a.confineTo {
		return ""
	}
	return fmt.Sprintf("%s %s: namespace %q is outside the instance's namespace %q; children are confined to it (annotate the ResourceGraphDefinition with %s: \"true\" to allow this)",
		n.GVK.Kind, desired.GetName(), desired.GetNamespace(), a.confineTo, identity.AllowCrossNamespaceAnnotation)
}

// forbiddenStatus says the instance's identity may not do what the graph
// needs; nothing is written until RBAC allows it.
func forbiddenStatus(inst *unstructured.Unstructured, err error) map[string]any {
	conds := existingConditions(inst)
	meta.SetStatusCondition(&conds, metav1.Condition{Type: CondGraphResolved, Status: metav1.ConditionFalse,
		Reason: ReasonForbidden, Message: err.Error(), ObservedGeneration: inst.GetGeneration()})
	setReady(&conds, inst.GetGeneration())
	return composeStatus(userFields(inst), StateError, conds)
}

func isForbidden(err error) bool {
	var f *identity.ForbiddenError
	return errors.As(err, &f)
}

func sameRef(a, b *identity.Ref) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}
