package instance

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/trellis-dev/trellis/pkg/events"
	"github.com/trellis-dev/trellis/pkg/metrics"
)

// Event reasons on instances.
const (
	ReasonActive      = "Active"      // Normal: became ACTIVE (first time, or recovered)
	ReasonError       = "Error"       // Warning: became ERROR, or the error changed
	ReasonProgressing = "Progressing" // Normal: left ACTIVE or ERROR for IN_PROGRESS
)

// statusWritten runs after a status write that changed something: it
// counts a change of state (kro's instance_state_transitions_total) and
// tells people about the changes they want to know about with an Event.
// A new instance going IN_PROGRESS and deletions get no event, so the happy
// path costs one event per instance (when it becomes ACTIVE) and a quiet
// cluster none.
func (c *Controller) statusWritten(k key, inst *unstructured.Unstructured, status map[string]any) {
	from, _, _ := unstructured.NestedString(inst.Object, "status", "state")
	to, _ := status["state"].(string)
	gvk := inst.GroupVersionKind()
	if gvk.Kind == "" {
		if reg := c.registration(k.gvr); reg != nil && reg.graph != nil {
			gvk = reg.graph.Instance.GVK
		}
	}
	if from != to {
		metrics.StateTransition(gvk, from, to)
	}
	if c.opts.Events == nil {
		return
	}
	obj := events.Object{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Namespace: k.namespace, Name: k.name, UID: inst.GetUID()}
	msg := readyMessage(status["conditions"])
	switch {
	case to == StateActive && from != StateActive:
		if msg == "" {
			msg = "all resources are created and ready"
		}
		c.opts.Events.Normal(obj, ReasonActive, msg)
	case to == StateError && (from != StateError || msg != readyMessage(existingConditionsRaw(inst))):
		if msg == "" {
			msg = "the instance is in state ERROR"
		}
		c.opts.Events.Warning(obj, ReasonError, msg)
	case to == StateInProgress && (from == StateActive || from == StateError):
		c.opts.Events.Normal(obj, ReasonProgressing, msg)
	}
}

// readyMessage is the message of the Ready condition in a status's
// conditions list ("" if there is none).
func readyMessage(conds any) string {
	list, _ := conds.([]any)
	for _, c := range list {
		m, _ := c.(map[string]any)
		if m["type"] == CondReady {
			s, _ := m["message"].(string)
			return s
		}
	}
	return ""
}

func existingConditionsRaw(inst *unstructured.Unstructured) any {
	v, _, _ := unstructured.NestedFieldNoCopy(inst.Object, "status", "conditions")
	return v
}
