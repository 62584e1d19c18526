package rgd

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/events"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/metrics"
)

// ReasonGraphAccepted is the reason of the Normal event on an RGD whose
// graph was accepted. A rejected graph gets a Warning whose reason is the
// GraphAccepted condition's (InvalidResourceGraph, WaitingForKind).
const ReasonGraphAccepted = "GraphAccepted"

// buildGraph builds the RGD's graph, recording kro's rgd_graph_build_*.
func (r *Reconciler) buildGraph(rgd *v1alpha1.ResourceGraphDefinition) (*graph.Graph, error) {
	start := time.Now()
	g, err := graph.BuildWithOptions(rgd, r.Resolver, r.GraphOptions)
	metrics.RGDGraphBuild(rgd.Name, time.Since(start), err)
	return g, err
}

// statusWritten runs after a status write: it counts a change of state and
// emits an Event when the graph's acceptance changed (accepted, rejected,
// or rejected for another reason).
func (r *Reconciler) statusWritten(rgd *v1alpha1.ResourceGraphDefinition, prev *v1alpha1.ResourceGraphDefinitionStatus) {
	if from, to := string(prev.State), string(rgd.Status.State); from != to {
		metrics.RGDStateTransition(rgd.Name, from, to)
	}
	if r.Events == nil {
		return
	}
	now := meta.FindStatusCondition(rgd.Status.Conditions, CondGraphAccepted)
	if now == nil {
		return
	}
	before := meta.FindStatusCondition(prev.Conditions, CondGraphAccepted)
	if before != nil && before.Status == now.Status && before.Reason == now.Reason && before.Message == now.Message {
		return
	}
	obj := events.Object{APIVersion: v1alpha1.GroupVersion.String(), Kind: "ResourceGraphDefinition", Name: rgd.Name, UID: rgd.UID}
	switch {
	case now.Status == "True" && (before == nil || before.Status != "True"):
		r.Events.Normal(obj, ReasonGraphAccepted, now.Message)
	case now.Status == "False":
		r.Events.Warning(obj, now.Reason, now.Message)
	}
}
