package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/graph"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// child is what deletion and prune need of a child: its identity, the
// instance it belongs to and its deletion wave, read from the cache's typed
// part without decoding the object.
type child struct {
	gvr             schema.GroupVersionResource
	namespace, name string
	uid             types.UID
	instanceID      string
	order           int // deletion wave: the highest goes first
	terminating     bool
}

// childOf reads a child from the cache of gvr.
func childOf(gvr schema.GroupVersionResource, obj any) (child, bool) {
	c, ok := obj.(*compact)
	if !ok {
		return child{}, false
	}
	return child{gvr: gvr, namespace: c.Namespace, name: c.Name, uid: c.UID, instanceID: c.instanceID,
		order: int(c.applyOrder), terminating: c.DeletionTimestamp != nil}, true
}

// childOfObject reads a child from a whole object (a write's response).
func childOfObject(gvr schema.GroupVersionResource, obj *unstructured.Unstructured) child {
	return child{gvr: gvr, namespace: obj.GetNamespace(), name: obj.GetName(), uid: obj.GetUID(),
		instanceID: obj.GetLabels()[trt.LabelInstanceID], order: int(applyOrder(obj.GetAnnotations())), terminating: obj.GetDeletionTimestamp() != nil}
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
			if ch, ok := childOf(ref.gvr, o); ok {
				out = append(out, ch)
			}
		}
	}
	return out
}

// deleteChild deletes one child and says whether the DELETE response shows
// it gone: the API server answers an immediate deletion with a Status or
// the deleted object, and one that waits (a finalizer, a grace period)
// with the object marked for deletion.
//
// With an RGD identity the DELETE goes through its impersonating dynamic
// client, which does not hand back the response: the child's delete event
// then says when it is gone.
func (c *Controller) deleteChild(ctx context.Context, acc childAccess, ch child) (gone bool, err error) {
	uid := ch.uid
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}
	var raw []byte
	if acc.own {
		body, _ := json.Marshal(opts)
		raw, err = c.raw.Delete().AbsPath(objectPath(ch.gvr, ch.namespace, ch.name)).Body(body).Do(ctx).Raw()
	} else {
		err = acc.dyn.Resource(ch.gvr).Namespace(ch.namespace).Delete(ctx, ch.name, opts)
	}
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return true, nil // gone, or replaced by an object that is not ours
	case err != nil:
		return false, fmt.Errorf("deleting %s %s: %w", ch.gvr.Resource, ch.name, err)
	case !acc.own:
		return false, nil
	}
	var resp struct {
		Kind     string `json:"kind"`
		Metadata struct {
			DeletionTimestamp *string `json:"deletionTimestamp"`
		} `json:"metadata"`
	}
	if json.Unmarshal(raw, &resp) != nil {
		return false, nil // unreadable: wait for the watch to say
	}
	return resp.Kind == "Status" || resp.Metadata.DeletionTimestamp == nil, nil
}

// objectPath is the URL path of one object.
func objectPath(gvr schema.GroupVersionResource, namespace, name string) string {
	p := resourcePath(gvr)
	if namespace != "" {
		p = path.Join(path.Dir(p), "namespaces", namespace, gvr.Resource)
	}
	return path.Join(p, name)
}

// delete removes the children of a deleted instance in reverse dependency
// order, one wave at a time, then releases the instance. A wave's DELETEs
// run concurrently; when their responses show every child gone, the next
// wave starts at once, so an instance whose children have no finalizers is
// released in one pass and its status is never written. A wave that waits
// on a child (a finalizer, a grace period) ends the pass with the status
// DELETING; the child's delete event brings the next pass.
// It never evaluates the graph, so it works when the RGD is gone or broken.
func (c *Controller) delete(ctx context.Context, k key, reg *registration, inst *unstructured.Unstructured) error {
	if !hasString(inst.GetFinalizers(), v1alpha1.Finalizer) || c.deletions.released(k, inst.GetUID()) {
		return nil
	}
	gvrs := inventoryGVRs(inst)
	if reg != nil && reg.graph != nil {
		gvrs = unionGVRs(gvrs, gvrsOf(reg.graph))
	}
	for _, gvr := range gvrs {
		c.children.waitSynced(ctx, gvr)
	}
	children := c.deletions.withoutGone(k, c.unseen.add(k, inst.GetUID(), c.ownedChildren(inst, gvrs)))
	acc, err := c.deleteAccess(reg, k.namespace)
	if err != nil {
		return err
	}
	for len(children) > 0 {
		top := 0
		for _, ch := range children {
			top = max(top, ch.order)
		}
		var wave, rest []child
		for _, ch := range children {
			if ch.order == top {
				wave = append(wave, ch)
			} else {
				rest = append(rest, ch)
			}
		}
		waiting, err := c.deleteWave(ctx, k, acc, wave)
		if err != nil {
			return err
		}
		if waiting {
			return c.writeStatus(ctx, k, inst, deletingStatus(inst))
		}
		children = rest
	}
	if err := c.releaseFinalizer(ctx, k, inst); err != nil {
		return err
	}
	c.deletions.release(k, inst.GetUID())
	c.unseen.forget(k)
	return nil
}

// deleteWave deletes the children of one wave concurrently and says
// whether any of them is still there.
func (c *Controller) deleteWave(ctx context.Context, k key, acc childAccess, wave []child) (waiting bool, err error) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, ch := range wave {
		if ch.terminating {
			waiting = true // already terminating: its delete event brings us back
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			gone, err := c.deleteChild(ctx, acc, ch)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err)
			case gone:
				c.deletions.gone(k, ch.uid)
			default:
				waiting = true
			}
		}()
	}
	wg.Wait()
	return waiting, errors.Join(errs...)
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
	// Through the raw client: the response, the whole instance, is not
	// decoded (3% of the controller's CPU in a mass deletion).
	err := c.raw.Patch(types.MergePatchType).AbsPath(objectPath(k.gvr, k.namespace, k.name)).Body(patch).Do(ctx).Error()
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// deletions remembers, per deleted instance, what its DELETE responses
// already showed: children gone (the cache may still hold them until their
// delete events arrive) and the finalizer released (the instance may still
// be in the cache). A pass that runs before those events would otherwise
// DELETE the children again and PATCH the finalizer once more.
type deletions struct {
	mu       sync.Mutex
	children map[key]map[types.UID]bool
	done     map[key]types.UID
}

func newDeletions() *deletions {
	return &deletions{children: map[key]map[types.UID]bool{}, done: map[key]types.UID{}}
}

func (d *deletions) gone(k key, child types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.children[k] == nil {
		d.children[k] = map[types.UID]bool{}
	}
	d.children[k][child] = true
}

func (d *deletions) withoutGone(k key, children []child) []child {
	d.mu.Lock()
	defer d.mu.Unlock()
	gone := d.children[k]
	out := children[:0]
	for _, ch := range children {
		if !gone[ch.uid] {
			out = append(out, ch)
		}
	}
	return out
}

func (d *deletions) release(k key, inst types.UID) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done[k] = inst
	delete(d.children, k)
}

func (d *deletions) released(k key, inst types.UID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done[k] == inst
}

// forget drops what is known about k once it has left the cache.
func (d *deletions) forget(k key) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.children, k)
	delete(d.done, k)
}
