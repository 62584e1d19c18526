package instance

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/trellis-dev/trellis/pkg/metrics"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// ReasonReconcilePanic is the ResourcesReady reason of an instance whose
// reconcile panicked (trellis's; kro's controller crashes instead).
const ReasonReconcilePanic = "ReconcilePanic"

// panicReasonPrefix starts the reason of a child whose sync panicked; like
// an apply failure it is retried with backoff (a panic may be transient).
const panicReasonPrefix = "panic while reconciling resource "

// A panic in one instance's reconcile must not take the process (and every
// other RGD) down: the worker recovers it, counts it in
// dynamic_controller_reconcile_panics_total, records it on the instance
// and retries with backoff. Children are synced on goroutines of their own,
// which a worker's recover cannot see, so each of them recovers too.

// faultHook, when set, runs at the start of an instance's reconcile (id "")
// and of each child's sync (id = resource id). Only tests set it, to
// inject panics where real ones would happen.
var faultHook atomic.Pointer[func(namespace, name, id string)]

// SetFaultHook installs (nil: removes) the fault-injection hook. For tests.
func SetFaultHook(f func(namespace, name, id string)) {
	if f == nil {
		faultHook.Store(nil)
		return
	}
	faultHook.Store(&f)
}

func injectFault(k key, id string) {
	if f := faultHook.Load(); f != nil {
		(*f)(k.namespace, k.name, id)
	}
}

// recoverNode turns a panic in a child's sync into that child's error.
func (c *Controller) recoverNode(k key, rt *trt.Instance, id string) {
	r := recover()
	if r == nil {
		return
	}
	metrics.ForGVR(k.gvr).Panicked()
	c.log.Error(fmt.Errorf("panic: %v", r), "resource sync panicked", "resource", k.gvr.Resource,
		"namespace", k.namespace, "name", k.name, "id", id, "stack", string(debug.Stack()))
	rt.Set(id, trt.StateError, fmt.Sprintf("%s%q: %v", panicReasonPrefix, id, r))
}

// recoverItem turns a panic while applying a collection item into the
// item's error.
func (c *Controller) recoverItem(k key, id string, i int, err *error) {
	r := recover()
	if r == nil {
		return
	}
	metrics.ForGVR(k.gvr).Panicked()
	c.log.Error(fmt.Errorf("panic: %v", r), "collection item sync panicked", "resource", k.gvr.Resource,
		"namespace", k.namespace, "name", k.name, "id", id, "item", i, "stack", string(debug.Stack()))
	*err = fmt.Errorf("%s%q, item %d: %v", panicReasonPrefix, id, i, r)
}

// recoverReconcile turns a panic in an instance's reconcile into an error
// (so the key is retried with backoff) and a condition on the instance.
func (c *Controller) recoverReconcile(ctx context.Context, k key, err *error) {
	r := recover()
	if r == nil {
		return
	}
	metrics.ForGVR(k.gvr).Panicked()
	c.log.Error(fmt.Errorf("panic: %v", r), "reconcile panicked", "resource", k.gvr.Resource,
		"namespace", k.namespace, "name", k.name, "stack", string(debug.Stack()))
	*err = fmt.Errorf("panic: %v", r)
	c.reportPanic(ctx, k, r)
}

// reportPanic writes the panic on the instance; a second panic while doing
// so is swallowed (the retry will try again).
func (c *Controller) reportPanic(ctx context.Context, k key, r any) {
	defer func() { _ = recover() }()
	obj, exists, err := c.instances.get(k.gvr).GetStore().GetByKey(cacheKey(k.namespace, k.name))
	if err != nil || !exists {
		return
	}
	inst := decode(obj)
	conds := existingConditions(inst)
	meta.SetStatusCondition(&conds, metav1.Condition{Type: CondResourcesReady, Status: metav1.ConditionFalse,
		Reason: ReasonReconcilePanic, Message: fmt.Sprintf("reconcile panicked (retried with backoff): %v", r),
		ObservedGeneration: inst.GetGeneration()})
	setReady(&conds, inst.GetGeneration())
	if werr := c.writeStatus(ctx, k, inst, composeStatus(userFields(inst), StateError, conds)); werr != nil {
		c.log.Error(werr, "recording the panic on the instance", "namespace", k.namespace, "name", k.name)
	}
}
