package instance

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/graph"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

type child struct {
	gvr schema.GroupVersionResource
	obj *unstructured.Unstructured
}

func gvrsOf(g *graph.Graph) []schema.GroupVersionResource {
	seen := map[schema.GroupVersionResource]bool{}
	var out []schema.GroupVersionResource
	for _, n := range g.Nodes {
		if n.External == nil && !seen[n.GVR] {
			seen[n.GVR] = true
			out = append(out, n.GVR)
		}
	}
	return out
}

// inventoryGVRs reads the child kinds recorded on the instance.
func inventoryGVRs(inst *unstructured.Unstructured) []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for _, s := range strings.Split(inst.GetAnnotations()[annotationInventory], ",") {
		parts := strings.SplitN(s, ".", 3)
		if len(parts) == 3 {
			out = append(out, schema.GroupVersionResource{Resource: parts[0], Version: parts[1], Group: parts[2]})
		}
	}
	return out
}

// ownedChildren lists, from the informer caches, the children of inst.
func (c *Controller) ownedChildren(inst *unstructured.Unstructured, gvrs []schema.GroupVersionResource) []child {
	want := map[schema.GroupVersionResource]bool{}
	for _, gvr := range gvrs {
		want[gvr] = true
	}
	var out []child
	for _, ref := range c.owned.children(inst.GetUID()) {
		if !want[ref.gvr] {
			continue
		}
		if o, ok, _ := c.children.get(ref.gvr).GetStore().GetByKey(ref.key); ok {
			out = append(out, child{gvr: ref.gvr, obj: decode(o)})
		}
	}
	return out
}

func (c *Controller) deleteChild(ctx context.Context, ch child) error {
	uid := ch.obj.GetUID()
	err := c.dyn.Resource(ch.gvr).Namespace(ch.obj.GetNamespace()).Delete(ctx, ch.obj.GetName(),
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("deleting %s %s: %w", ch.gvr.Resource, ch.obj.GetName(), err)
	}
	return nil
}

// delete removes the children of a deleted instance in reverse dependency
// order, one wave at a time (a wave waits for the previous one to be gone,
// so finalizers of children are honoured), then releases the instance.
// It never evaluates the graph, so it works when the RGD is gone or broken.
func (c *Controller) delete(ctx context.Context, k key, reg *registration, inst *unstructured.Unstructured) error {
	if !hasString(inst.GetFinalizers(), v1alpha1.Finalizer) {
		return nil
	}
	gvrs := inventoryGVRs(inst)
	if reg != nil && reg.graph != nil {
		gvrs = unionGVRs(gvrs, gvrsOf(reg.graph))
	}
	for _, gvr := range gvrs {
		c.children.waitSynced(ctx, gvr)
	}
	children := c.ownedChildren(inst, gvrs)
	if len(children) == 0 {
		return c.releaseFinalizer(ctx, k, inst)
	}
	top := 0
	for _, ch := range children {
		if o := applyOrder(ch.obj); o > top {
			top = o
		}
	}
	// The status first: the wave's delete events bring the next reconcile,
	// which then reads it back unchanged and writes nothing.
	if err := c.writeStatus(ctx, k, inst, deletingStatus(inst)); err != nil {
		return err
	}
	for _, ch := range children {
		if applyOrder(ch.obj) != top {
			continue
		}
		if ch.obj.GetDeletionTimestamp() == nil {
			if err := c.deleteChild(ctx, ch); err != nil {
				return err
			}
		}
	}
	return nil // child delete events bring us back for the next wave
}

// applyOrder reads a child's deletion wave; unknown orders go last.
func applyOrder(u *unstructured.Unstructured) int {
	o, err := strconv.Atoi(u.GetAnnotations()[trt.AnnotationApplyOrder])
	if err != nil {
		return 0
	}
	return o
}

func unionGVRs(a, b []schema.GroupVersionResource) []schema.GroupVersionResource {
	seen := map[schema.GroupVersionResource]bool{}
	var out []schema.GroupVersionResource
	for _, g := range append(a, b...) {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out
}

func (c *Controller) releaseFinalizer(ctx context.Context, k key, inst *unstructured.Unstructured) error {
	var keep []string
	for _, f := range inst.GetFinalizers() {
		if f != v1alpha1.Finalizer {
			keep = append(keep, f)
		}
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": inst.GetResourceVersion(),
		"finalizers":      keep,
	}})
	_, err := c.dyn.Resource(k.gvr).Namespace(k.namespace).Patch(ctx, k.name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
