package instance

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trellis-dev/trellis/pkg/graph"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// Instance states, as kro writes them.
const (
	StateActive     = "ACTIVE"
	StateInProgress = "IN_PROGRESS"
	StateDeleting   = "DELETING"
	StateError      = "ERROR"
	// StateOrphaned is trellis's: the instance's RGD was deleted with
	// trellis.dev/orphan-instances, so nothing reconciles it any more
	// (kro leaves such instances with their last state).
	StateOrphaned = "ORPHANED"
)

// Reasons trellis adds to kro's: ReasonOrphaned on an orphaned instance,
// ReasonRGDDeleting on an instance created while its RGD's deletion was
// pending (it is not reconciled).
const (
	ReasonOrphaned    = "Orphaned"
	ReasonRGDDeleting = "ResourceGraphDefinitionDeleting"
)

// Condition types, in the order kro writes them.
const (
	CondInstanceManaged = "InstanceManaged"
	CondGraphResolved   = "GraphResolved"
	CondResourcesReady  = "ResourcesReady"
	CondReady           = "Ready"
)

// result summarises one evaluation.
type result struct {
	waiting []string // "id: reason"
	errors  []string
	// unresolved are render (graph resolution) errors.
	unresolved []string
	// retry asks for a rate-limited retry: an error that a later attempt
	// may fix (apply failures), unlike waits which watches resolve.
	retry bool
}

func summarize(g *graph.Graph, rt *trt.Instance) *result {
	r := &result{}
	for _, n := range g.Nodes {
		st := rt.Status(n.ID)
		switch st.State {
		case trt.StateWaiting, trt.StatePending:
			r.waiting = append(r.waiting, n.ID+": "+st.Reason)
		case trt.StateError:
			msg := n.ID + ": " + st.Reason
			if strings.HasPrefix(st.Reason, "applying ") || strings.HasPrefix(st.Reason, panicReasonPrefix) {
				r.errors = append(r.errors, msg)
				r.retry = true
			} else {
				r.unresolved = append(r.unresolved, msg)
			}
		}
	}
	return r
}

// settled: every node is ready or skipped and nothing failed.
func (r *result) settled() bool {
	return len(r.waiting) == 0 && len(r.errors) == 0 && len(r.unresolved) == 0
}

// status builds the full instance status from the evaluation.
func (r *result) status(inst *unstructured.Unstructured, user map[string]any, custom func([]any) ([]map[string]any, error)) map[string]any {
	gen := inst.GetGeneration()
	conds := existingConditions(inst)
	set := func(t string, ok bool, reason, msg string) {
		s := metav1.ConditionTrue
		if !ok {
			s = metav1.ConditionFalse
		}
		meta.SetStatusCondition(&conds, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen})
	}
	set(CondInstanceManaged, true, "Managed", "instance is properly managed with finalizers and labels")
	if len(r.unresolved) > 0 {
		set(CondGraphResolved, false, "ResolutionFailed", strings.Join(r.unresolved, "; "))
	} else {
		set(CondGraphResolved, true, "Resolved", "runtime graph created and all resources resolved")
	}
	state := StateActive
	switch {
	case len(r.errors) > 0:
		set(CondResourcesReady, false, "NotReady", "resource reconciliation failed: "+strings.Join(r.errors, "; "))
		state = StateError
	case len(r.unresolved) > 0:
		set(CondResourcesReady, false, "NotReady", "resource error: "+strings.Join(r.unresolved, "; "))
		state = StateError
	case len(r.waiting) > 0:
		set(CondResourcesReady, false, "NotReady", "awaiting resource readiness: "+strings.Join(r.waiting, "; "))
		state = StateInProgress
	default:
		set(CondResourcesReady, true, "AllResourcesReady", "all resources are created and ready")
	}
	setReady(&conds, gen)
	if custom == nil {
		return composeStatus(user, state, conds)
	}
	// The author's conditions replace the built-in ones on the wire; the
	// built-ins stay readable to them through runtime.condition(schema, …).
	authored, err := custom(toList(conds))
	if err != nil {
		state = StateError
	}
	out := composeStatus(user, state, nil)
	prev := existingConditions(inst)
	list := make([]any, 0, len(authored))
	for _, c := range authored {
		m := map[string]any{"observedGeneration": gen}
		for k, v := range c {
			m[k] = v
		}
		for _, key := range []string{"reason", "message"} {
			if _, ok := m[key]; !ok {
				m[key] = ""
			}
		}
		ltt := metav1.Now().UTC().Format(time.RFC3339)
		if p := meta.FindStatusCondition(prev, fmt.Sprint(m["type"])); p != nil && string(p.Status) == fmt.Sprint(m["status"]) {
			ltt = p.LastTransitionTime.UTC().Format(time.RFC3339)
		}
		m["lastTransitionTime"] = ltt
		list = append(list, m)
	}
	if err != nil {
		// Say why on the wire, unless the author owns that condition type.
		if !hasType(authored, CondGraphResolved) {
			list = append(list, map[string]any{"type": CondGraphResolved, "status": "False", "reason": "ConditionEvaluationFailed",
				"message": err.Error(), "observedGeneration": gen, "lastTransitionTime": metav1.Now().UTC().Format(time.RFC3339)})
		}
	}
	out["conditions"] = list
	return out
}

func hasType(conds []map[string]any, t string) bool {
	for _, c := range conds {
		if c["type"] == t {
			return true
		}
	}
	return false
}

func toList(conds []metav1.Condition) []any {
	raw, _ := json.Marshal(conds)
	var list []any
	_ = json.Unmarshal(raw, &list)
	return list
}

// setReady mirrors the worst of the other conditions into Ready.
func setReady(conds *[]metav1.Condition, gen int64) {
	ready := metav1.Condition{Type: CondReady, Status: metav1.ConditionTrue, Reason: "Ready", ObservedGeneration: gen}
	for _, t := range []string{CondInstanceManaged, CondGraphResolved, CondResourcesReady} {
		c := meta.FindStatusCondition(*conds, t)
		if c == nil || c.Status == metav1.ConditionTrue {
			continue
		}
		if ready.Status == metav1.ConditionTrue || (c.Status == metav1.ConditionFalse && ready.Status != metav1.ConditionFalse) {
			ready.Status, ready.Reason, ready.Message = c.Status, c.Reason, c.Message
		}
	}
	meta.SetStatusCondition(conds, ready)
}

func existingConditions(inst *unstructured.Unstructured) []metav1.Condition {
	raw, ok, _ := unstructured.NestedSlice(inst.Object, "status", "conditions")
	if !ok {
		return nil
	}
	var conds []metav1.Condition
	b, _ := json.Marshal(raw)
	_ = json.Unmarshal(b, &conds)
	return conds
}

// composeStatus orders conditions as kro does and merges the user fields.
func composeStatus(user map[string]any, state string, conds []metav1.Condition) map[string]any {
	order := map[string]int{CondInstanceManaged: 0, CondGraphResolved: 1, CondResourcesReady: 2, CondReady: 3}
	sorted := make([]metav1.Condition, 0, len(conds))
	for _, t := range []string{CondInstanceManaged, CondGraphResolved, CondResourcesReady, CondReady} {
		if c := meta.FindStatusCondition(conds, t); c != nil {
			sorted = append(sorted, *c)
		}
	}
	for _, c := range conds {
		if _, known := order[c.Type]; !known {
			sorted = append(sorted, c)
		}
	}
	out := make(map[string]any, len(user)+2)
	for k, v := range user {
		out[k] = v
	}
	out["state"] = state
	out["conditions"] = toList(sorted)
	return out
}

func managementFailed(inst *unstructured.Unstructured, err error) map[string]any {
	conds := existingConditions(inst)
	meta.SetStatusCondition(&conds, metav1.Condition{Type: CondInstanceManaged, Status: metav1.ConditionFalse,
		Reason: "ManagementFailed", Message: err.Error(), ObservedGeneration: inst.GetGeneration()})
	setReady(&conds, inst.GetGeneration())
	return composeStatus(userFields(inst), StateError, conds)
}

func suspendedStatus(inst *unstructured.Unstructured) map[string]any {
	conds := existingConditions(inst)
	meta.SetStatusCondition(&conds, metav1.Condition{Type: CondResourcesReady, Status: metav1.ConditionFalse,
		Reason: "ReconciliationSuspended", Message: "reconciliation is suspended by the kro.run/reconcile annotation", ObservedGeneration: inst.GetGeneration()})
	setReady(&conds, inst.GetGeneration())
	state, _, _ := unstructured.NestedString(inst.Object, "status", "state")
	if state == "" {
		state = StateInProgress
	}
	return composeStatus(userFields(inst), state, conds)
}

// orphanedStatus says that the instance's RGD is gone: its spec is no
// longer applied and its children are not repaired; deleting it still
// deletes them.
func orphanedStatus(inst *unstructured.Unstructured, rgdName string) map[string]any {
	conds := existingConditions(inst)
	gen := inst.GetGeneration()
	msg := fmt.Sprintf("ResourceGraphDefinition %s was deleted and this instance orphaned (trellis.dev/orphan-instances): "+
		"changes to its spec are not applied and its resources are not repaired; deleting the instance still deletes them", rgdName)
	meta.SetStatusCondition(&conds, metav1.Condition{Type: CondInstanceManaged, Status: metav1.ConditionFalse,
		Reason: ReasonOrphaned, Message: msg, ObservedGeneration: gen})
	meta.SetStatusCondition(&conds, metav1.Condition{Type: CondResourcesReady, Status: metav1.ConditionUnknown,
		Reason: ReasonOrphaned, Message: "not reconciled since its ResourceGraphDefinition was deleted", ObservedGeneration: gen})
	setReady(&conds, gen)
	return composeStatus(userFields(inst), StateOrphaned, conds)
}

// refusedStatus is the status of an instance created after its RGD's
// deletion began: trellis creates nothing for it.
func refusedStatus(inst *unstructured.Unstructured, rgdName string) map[string]any {
	conds := existingConditions(inst)
	msg := fmt.Sprintf("ResourceGraphDefinition %s is being deleted: instances created after its deletion began are not reconciled (nothing is created for them); delete this instance", rgdName)
	meta.SetStatusCondition(&conds, metav1.Condition{Type: CondInstanceManaged, Status: metav1.ConditionFalse,
		Reason: ReasonRGDDeleting, Message: msg, ObservedGeneration: inst.GetGeneration()})
	setReady(&conds, inst.GetGeneration())
	return composeStatus(userFields(inst), StateError, conds)
}

// deletingStatus is the same for every deletion wave, so that a deletion
// writes the status once (the children left are listed by
// `trellis graph` or their kro.run/instance-name label).
func deletingStatus(inst *unstructured.Unstructured) map[string]any {
	conds := existingConditions(inst)
	meta.SetStatusCondition(&conds, metav1.Condition{Type: CondResourcesReady, Status: metav1.ConditionUnknown,
		Reason: "UnderDeletion", Message: "deleting resources in reverse dependency order", ObservedGeneration: inst.GetGeneration()})
	setReady(&conds, inst.GetGeneration())
	return composeStatus(userFields(inst), StateDeleting, conds)
}

// userFields are the projected fields of the current status.
func userFields(inst *unstructured.Unstructured) map[string]any {
	st, _, _ := unstructured.NestedMap(inst.Object, "status")
	delete(st, "state")
	delete(st, "conditions")
	return st
}

// writeStatus patches the status subresource only when it changed.
func (c *Controller) writeStatus(ctx context.Context, k key, inst *unstructured.Unstructured, status map[string]any) error {
	old, _, _ := unstructured.NestedFieldNoCopy(inst.Object, "status")
	patch, _ := json.Marshal(map[string]any{"status": status})
	sum := sha256.Sum256(patch)
	if c.written.holds(k, inst.GetResourceVersion(), sum) {
		return nil // our last write holds this status; the cache has not seen it yet
	}
	if old != nil { // a new instance has none: the whole status is the patch
		oldJSON, _ := json.Marshal(map[string]any{"status": old})
		var a, b any
		_ = json.Unmarshal(oldJSON, &a)
		_ = json.Unmarshal(patch, &b)
		if equality.Semantic.DeepEqual(a, b) {
			return nil
		}
		var err error
		if patch, err = jsonpatch.CreateMergePatch(oldJSON, patch); err != nil {
			return err
		}
	}
	out, err := c.dyn.Resource(k.gvr).Namespace(k.namespace).Patch(ctx, k.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: c.opts.FieldManager}, "status")
	if err == nil {
		c.statusWritten(k, inst, status)
		c.written.record(k, out.GetResourceVersion(), sum)
	}
	return err
}

// writtenStatuses remembers, per instance, the last status trellis wrote
// (a hash) and the resourceVersion the write produced. A reconcile that
// runs before the informer has seen that write compares against the older
// status in the cache; when it computes the status just written, writing
// it again would be a second write of the same status (seen in the switch
// from kro, where the first reconcile of an instance is often followed by
// another one at once).
type writtenStatuses struct {
	mu sync.Mutex
	m  map[key]writtenStatus
}

type writtenStatus struct {
	rv  string
	sum [sha256.Size]byte
}

func newWrittenStatuses() *writtenStatuses { return &writtenStatuses{m: map[key]writtenStatus{}} }

// holds reports whether the last status written for k is sum and the
// cached object (at cachedRV) predates that write.
func (w *writtenStatuses) holds(k key, cachedRV string, sum [sha256.Size]byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	last, ok := w.m[k]
	return ok && last.sum == sum && older(cachedRV, last.rv)
}

func (w *writtenStatuses) record(k key, rv string, sum [sha256.Size]byte) {
	w.mu.Lock()
	w.m[k] = writtenStatus{rv: rv, sum: sum}
	w.mu.Unlock()
}

func (w *writtenStatuses) forget(k key) {
	w.mu.Lock()
	delete(w.m, k)
	w.mu.Unlock()
}
