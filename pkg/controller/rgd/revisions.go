package rgd

import (
	"context"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	internal "github.com/trellis-dev/trellis/api/graphrevision/v1alpha1"
	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/graph"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// revisions lists the GraphRevisions of an RGD, oldest first.
func (r *Reconciler) revisions(ctx context.Context, rgdName string) ([]internal.GraphRevision, error) {
	var list internal.GraphRevisionList
	if err := r.Client.List(ctx, &list, client.MatchingLabels{trt.LabelRGDName: rgdName}); err != nil {
		return nil, err
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Spec.Revision < list.Items[j].Spec.Revision })
	return list.Items, nil
}

// ensureRevision makes sure the newest revision of the RGD is g's spec and
// returns its number. An unchanged spec (same normalised hash: reordered
// resources or conditions, YAML formatting) issues no new revision.
func (r *Reconciler) ensureRevision(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph) (int64, error) {
	revs, err := r.revisions(ctx, rgd.Name)
	if err != nil {
		return 0, err
	}
	next := rgd.Status.LastIssuedRevision
	if n := len(revs); n > 0 {
		if last := revs[n-1]; last.Labels[internal.LabelHash] == g.Hash || sameSnapshot(last, rgd) {
			return last.Spec.Revision, nil
		}
		if revs[n-1].Spec.Revision > next {
			next = revs[n-1].Spec.Revision
		}
	}
	next++
	gr := &internal.GraphRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("%s-r%05d", rgd.Name, next),
			Labels: map[string]string{
				trt.LabelOwned:      "true",
				trt.LabelKroVersion: r.Version,
				trt.LabelRGDName:    rgd.Name,
				internal.LabelHash:  g.Hash,
			},
		},
		Spec: internal.GraphRevisionSpec{
			Revision: next,
			Snapshot: internal.Snapshot{Name: rgd.Name, Generation: rgd.Generation, Spec: *rgd.Spec.DeepCopy()},
		},
	}
	if len(gr.Name) > 253 {
		gr.Name = fmt.Sprintf("%s-r%05d", rgd.Name[:240], next)
	}
	if err := controllerutil.SetControllerReference(rgd, gr, r.Client.Scheme()); err != nil {
		return 0, err
	}
	if err := r.Client.Create(ctx, gr); err != nil && !apierrors.IsAlreadyExists(err) {
		return 0, fmt.Errorf("issuing graph revision %d: %w", next, err)
	}
	gr.Status.TopologicalOrder = g.TopologicalOrder()
	meta.SetStatusCondition(&gr.Status.Conditions, metav1.Condition{Type: "GraphVerified", Status: metav1.ConditionTrue,
		Reason: "Verified", Message: "graph revision compiled and verified", ObservedGeneration: gr.Generation})
	meta.SetStatusCondition(&gr.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionTrue,
		Reason: "Ready", ObservedGeneration: gr.Generation})
	_ = r.Client.Status().Update(ctx, gr) // informational; the revision is usable without it
	r.pruneRevisions(ctx, append(revs, *gr))
	return next, nil
}

// sameSnapshot reports whether rev is a snapshot of rgd's current spec.
// It recognises the revisions kro issued: kro labels them with a hash of
// its own, which trellis's graph hash never equals, so after a switch from
// kro the newest revision is read, not issued again.
func sameSnapshot(rev internal.GraphRevision, rgd *v1alpha1.ResourceGraphDefinition) bool {
	return rev.Spec.Snapshot.Name == rgd.Name && equality.Semantic.DeepEqual(rev.Spec.Snapshot.Spec, rgd.Spec)
}

// pruneRevisions keeps the newest MaxRevisions revisions.
func (r *Reconciler) pruneRevisions(ctx context.Context, revs []internal.GraphRevision) {
	keep := r.MaxRevisions
	if keep < 1 {
		keep = 5
	}
	for i := 0; i < len(revs)-keep; i++ {
		_ = client.IgnoreNotFound(r.Client.Delete(ctx, &revs[i]))
	}
}

// lastGood builds the newest revision of an RGD whose current spec does
// not build, so its instances keep running on it (after a restart too).
func (r *Reconciler) lastGood(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition) (*graph.Graph, int64) {
	revs, err := r.revisions(ctx, rgd.Name)
	if err != nil || len(revs) == 0 {
		return nil, 0
	}
	last := revs[len(revs)-1]
	snap := rgd.DeepCopy()
	snap.Spec = last.Spec.Snapshot.Spec
	g, err := graph.BuildWithOptions(snap, r.Resolver, r.GraphOptions)
	if err != nil {
		return nil, 0
	}
	return g, last.Spec.Revision
}
