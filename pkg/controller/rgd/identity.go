package rgd

import (
	"context"
	"errors"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/identity"
)

// ReasonForbidden: the RGD's identity may not do what its graph needs.
const ReasonForbidden = "Forbidden"

// checkIdentity resolves the RGD's identity and, for a fixed one, checks
// that it may do everything the graph's instances do. It returns the
// GraphAccepted reason and message when the RGD must not be accepted
// (reason "" otherwise). Per-instance identities are checked per instance.
func (r *Reconciler) checkIdentity(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph) (reason, msg string, err error) {
	id, err := r.Identity.For(rgd.Annotations)
	if err != nil {
		return "InvalidResourceGraph", err.Error(), nil
	}
	r.trackIdentity(rgd.Name, id != nil)
	if id == nil || id.PerInstance() || r.Access == nil {
		return "", "", nil
	}
	err = r.Access.Check(ctx, *id, identity.Needs(g, "", false))
	var denied *identity.ForbiddenError
	if errors.As(err, &denied) {
		return ReasonForbidden, err.Error(), nil
	}
	return "", "", err
}

// trackIdentity remembers which RGDs have an identity: RBAC changes
// re-check exactly those.
func (r *Reconciler) trackIdentity(name string, has bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.identities == nil {
		r.identities = map[string]bool{}
	}
	if has {
		r.identities[name] = true
	} else {
		delete(r.identities, name)
	}
}

// watchRBAC re-checks the RGDs that have an identity whenever a role or
// binding changes, so granting a role activates an RGD within seconds.
// Only metadata is cached: the event is the signal, the API server's
// SubjectAccessReview is the judge.
func (r *Reconciler) watchRBAC(b *builder.Builder) *builder.Builder {
	if r.Access == nil {
		return b
	}
	on := handler.EnqueueRequestsFromMapFunc(r.rbacToRGDs)
	return b.WatchesMetadata(&rbacv1.RoleBinding{}, on).
		WatchesMetadata(&rbacv1.ClusterRoleBinding{}, on).
		WatchesMetadata(&rbacv1.Role{}, on).
		WatchesMetadata(&rbacv1.ClusterRole{}, on)
}

func (r *Reconciler) rbacToRGDs(context.Context, client.Object) []reconcile.Request {
	r.Access.Invalidate()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]reconcile.Request, 0, len(r.identities))
	for name := range r.identities {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: name}})
	}
	return out
}

// forbiddenRecheck is when a Forbidden RGD is checked again without an
// RBAC event.
const forbiddenRecheck = 15 * time.Second
