package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/metrics"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

func suspended(u metav1.Object) bool {
	v := strings.ToLower(u.GetAnnotations()[v1alpha1.ReconcileAnnotation])
	return v == "suspended" || v == "disabled"
}

func (c *Controller) reconcile(ctx context.Context, k key) error {
	inf := c.instances.get(k.gvr)
	obj, exists, err := inf.GetStore().GetByKey(cacheKey(k.namespace, k.name))
	if err != nil {
		return err
	}
	if !exists {
		c.forgetExternals(k)
		c.written.forget(k)
		c.deletions.forget(k)
		c.unseen.forget(k)
		c.unsynced.remove(k)
		return nil
	}
	inst := decode(obj)
	reg := c.registration(k.gvr)
	if inst.GetDeletionTimestamp() != nil {
		return c.delete(ctx, k, reg, inst)
	}
	if reg == nil {
		return nil // the RGD is not active: nothing to reconcile against
	}
	if reg.orphaned {
		return c.writeStatus(ctx, k, inst, orphanedStatus(inst, reg.rgdName))
	}
	if !reg.deletingSince.IsZero() && inst.GetCreationTimestamp().After(reg.deletingSince) {
		return c.writeStatus(ctx, k, inst, refusedStatus(inst, reg.rgdName))
	}
	if suspended(inst) {
		return c.writeStatus(ctx, k, inst, suspendedStatus(inst))
	}
	inst, err = c.ensureManaged(ctx, k, reg, inst)
	if err != nil {
		return c.writeStatus(ctx, k, inst, managementFailed(inst, err))
	}

	// After a restart the child caches may still be listing; a reconcile
	// now would take every child for missing and write it again.
	if synced := c.childCachesSynced(ctx, reg.graph); ctx.Err() != nil {
		return ctx.Err()
	} else if synced {
		c.unsynced.remove(k)
	} else {
		c.unsynced.add(k) // the late list brings it back
		if c.childCachesListed(reg.graph) {
			c.queue.Add(k) // it listed meanwhile, maybe before the add
		}
	}
	acc, err := c.access(ctx, reg, k.namespace)
	if err != nil {
		if isForbidden(err) {
			if werr := c.writeStatus(ctx, k, inst, forbiddenStatus(inst, err)); werr != nil {
				return werr
			}
		}
		return err
	}
	rt := trt.New(reg.graph, inst, trt.ChildLabels(inst, c.opts.Version, c.opts.ChildLabels))
	rt.ObserveEvals(metrics.CEL{})
	defer func() { metrics.CELEvaluated(rt.Evals()) }()
	for {
		batch := rt.Next()
		if len(batch) == 0 {
			break
		}
		// The batch's nodes are independent: all but the last run in new
		// goroutines, the last on this one, whose stack has already grown
		// to what a write needs (stack growth was ~8% of the CPU).
		var wg sync.WaitGroup
		for _, n := range batch[:len(batch)-1] {
			wg.Add(1)
			go func(n *graph.Node) {
				defer wg.Done()
				c.syncNode(ctx, k, acc, rt, n)
			}(n)
		}
		c.syncNode(ctx, k, acc, rt, batch[len(batch)-1])
		wg.Wait()
	}
	res := summarize(reg.graph, rt)
	if res.settled() {
		if err := c.prune(ctx, acc, reg, inst, rt); err != nil {
			res.errors = append(res.errors, err.Error())
		}
	}
	user, statusErr := rt.ProjectStatus()
	if reg.revision > 0 {
		user["graphRevision"] = reg.revision
	}
	if statusErr != nil {
		res.errors = append(res.errors, statusErr.Error())
	}
	var custom func([]any) ([]map[string]any, error)
	if len(reg.graph.Conditions) > 0 {
		custom = func(builtin []any) ([]map[string]any, error) {
			conds, err := rt.Conditions(builtin)
			if err != nil {
				c.log.Info("custom condition failed", "namespace", k.namespace, "name", k.name, "error", err.Error())
			}
			return conds, err
		}
	}
	if err := c.writeStatus(ctx, k, inst, res.status(inst, user, custom)); err != nil {
		return err
	}
	if res.retry {
		return errors.New(strings.Join(res.errors, "; "))
	}
	return nil
}

func cacheKey(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// ensureManaged puts the finalizer, labels and child-kind inventory on the
// instance in one write, only when something is missing.
func (c *Controller) ensureManaged(ctx context.Context, k key, reg *registration, inst *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	want := trt.InstanceLabels(c.opts.Version, reg.rgdName, reg.rgdUID)
	labels := inst.GetLabels()
	needs := !hasString(inst.GetFinalizers(), v1alpha1.Finalizer)
	for key, v := range want {
		if labels[key] != v {
			needs = true
		}
	}
	// The inventory only grows here: kinds a previous graph used keep being
	// listed until prune has emptied them.
	inventory := formatInventory(unionGVRs(inventoryGVRs(inst), gvrsOf(reg.graph)))
	if inst.GetAnnotations()[annotationInventory] != inventory {
		needs = true
	}
	if !needs {
		return inst, nil
	}
	finalizers := inst.GetFinalizers()
	if !hasString(finalizers, v1alpha1.Finalizer) {
		finalizers = append(finalizers, v1alpha1.Finalizer)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": inst.GetResourceVersion(),
		"finalizers":      finalizers,
		"labels":          want,
		"annotations":     map[string]string{annotationInventory: inventory},
	}})
	out, err := c.dyn.Resource(k.gvr).Namespace(k.namespace).Patch(ctx, k.name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: c.opts.FieldManager})
	if err != nil {
		return inst, fmt.Errorf("adding finalizer and labels: %w", err)
	}
	return out, nil
}

// annotationInventory lists the resources (GVRs) children may have, so the
// instance can be deleted even when its RGD is gone.
const annotationInventory = "trellis.dev/child-resources"

// NewInstanceStamp is the metadata ensureManaged gives a new instance of g's
// kind: what an admission policy must stamp for that write to be skipped.
func NewInstanceStamp(version string, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph) (labels, annotations map[string]string) {
	return trt.InstanceLabels(version, rgd.Name, string(rgd.UID)),
		map[string]string{annotationInventory: formatInventory(gvrsOf(g))}
}

func formatInventory(gvrs []schema.GroupVersionResource) string {
	out := make([]string, 0, len(gvrs))
	for _, g := range gvrs {
		out = append(out, g.Resource+"."+g.Version+"."+g.Group)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// syncNode brings one node to its desired state and records the outcome.
func (c *Controller) syncNode(ctx context.Context, k key, acc childAccess, rt *trt.Instance, n *graph.Node) {
	defer c.recoverNode(k, rt, n.ID)
	injectFault(k, n.ID)
	if n.External != nil {
		c.syncExternal(ctx, k, rt, n)
		return
	}
	included, err := rt.Included(n)
	if err != nil {
		failed(rt, n.ID, err)
		return
	}
	if !included {
		rt.Set(n.ID, trt.StateSkipped, "includeWhen is false")
		return
	}
	if len(n.ForEach) > 0 {
		c.syncCollection(ctx, k, acc, rt, n)
		return
	}
	desired, err := rt.Render(n)
	if err != nil {
		failed(rt, n.ID, err)
		return
	}
	if why := acc.confined(n, desired); why != "" {
		rt.Set(n.ID, trt.StateError, why)
		return
	}
	observed, waitReason, err := c.ensure(ctx, k, acc.dyn, n, desired)
	switch {
	case err != nil:
		rt.Set(n.ID, trt.StateError, err.Error())
		return
	case waitReason != "":
		rt.Set(n.ID, trt.StateWaiting, waitReason)
		return
	}
	rt.Observe(n.ID, observed)
	c.markReadiness(rt, n)
}

// failed records an evaluation error: data that is not there yet means
// waiting, anything else is an error.
func failed(rt *trt.Instance, id string, err error) {
	if errors.Is(err, trt.ErrPending) {
		rt.Set(id, trt.StateWaiting, err.Error())
		return
	}
	rt.Set(id, trt.StateError, err.Error())
}

// ensure applies desired unless the cached child already matches it, and
// returns the object as it is on the server.
func (c *Controller) ensure(ctx context.Context, k key, dyn dynamic.Interface, n *graph.Node, desired *unstructured.Unstructured) (*unstructured.Unstructured, string, error) {
	hash := trt.DesiredHash(desired)
	ann := desired.GetAnnotations()
	ann[trt.AnnotationDesiredHash] = hash
	desired.SetAnnotations(ann)

	live, updateOwned := c.cachedChild(n, desired.GetNamespace(), desired.GetName())
	switch {
	case live != nil && live.GetDeletionTimestamp() != nil:
		return nil, fmt.Sprintf("%s %s is being deleted", n.GVK.Kind, desired.GetName()), nil
	case live != nil && live.GetAnnotations()[trt.AnnotationDesiredHash] == hash && matches(live, desired):
		return live, "", nil
	}
	ck := objectKey{n.GVR, desired.GetNamespace(), desired.GetName()}
	c.echoes.begin(ck)
	applied, err := c.write(ctx, dyn, n, desired, live == nil, updateOwned)
	if err != nil {
		c.echoes.end(ck, "", "") // the failure is retried anyway
		return nil, "", fmt.Errorf("applying %s %s: %v", n.GVK.Kind, desired.GetName(), err)
	}
	if c.echoes.end(ck, applied.GetUID(), applied.GetResourceVersion()) {
		c.queue.Add(k) // someone else wrote it meanwhile: look again
	}
	if live == nil {
		// Until its informer shows it, deletion must know of it from here
		// (its event may already have overtaken the response).
		c.unseen.created(k, n.GVR, applied)
		obj, ok, _ := c.children.get(n.GVR).GetStore().GetByKey(cacheKey(applied.GetNamespace(), applied.GetName()))
		if m := metaOf(obj); ok && m != nil && m.GetUID() == applied.GetUID() {
			c.unseen.seen(applied.GetUID()) // no decode: this runs for every child created
		}
	}
	return applied, "", nil
}

// write creates a child that is not there yet with a POST, which costs the
// API server far less than a server-side apply that creates, and
// server-side applies every later change. Fields a POST set are owned by
// trellis's Update entry, and fields of a child kro made by kro's Apply
// entry, where a later apply could not remove them, so before the first
// apply they are handed over to trellis's Apply entry.
func (c *Controller) write(ctx context.Context, dyn dynamic.Interface, n *graph.Node, desired *unstructured.Unstructured, absent, updateOwned bool) (*unstructured.Unstructured, error) {
	res := dyn.Resource(n.GVR).Namespace(desired.GetNamespace())
	if absent {
		created, err := res.Create(ctx, desired, metav1.CreateOptions{FieldManager: c.opts.FieldManager})
		if !apierrors.IsAlreadyExists(err) {
			return created, err
		}
		// Not in the cache yet, or made by someone else: apply takes it over.
	}
	if updateOwned {
		if err := c.takeOver(ctx, res, desired); err != nil {
			return nil, err
		}
	}
	return res.Apply(ctx, desired.GetName(), desired, metav1.ApplyOptions{FieldManager: c.opts.FieldManager, Force: true})
}

// takeOver moves the fields trellis inherits — those its Update entry owns
// and those kro's Apply entry owns (see KroFieldManager) — into its Apply
// entry, guarded by the resourceVersion; unless desired still sets every one
// of them, so the apply cannot leave a field behind.
func (c *Controller) takeOver(ctx context.Context, res dynamic.ResourceInterface, desired *unstructured.Unstructured) error {
	name := desired.GetName()
	live, err := res.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if coveredByApply(live, desired, c.opts.FieldManager, predecessors...) {
		return nil
	}
	entries, err := inheritManagedFields(live, c.opts.FieldManager, predecessors, time.Now())
	if err != nil || entries == nil {
		return err
	}
	patch, err := managedFieldsPatch(live, entries)
	if err != nil {
		return err
	}
	_, err = res.Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
	return err
}

// predecessors are the field managers whose Apply entries on children
// trellis inherits.
var predecessors = []string{KroFieldManager}

func (c *Controller) syncCollection(ctx context.Context, k key, acc childAccess, rt *trt.Instance, n *graph.Node) {
	items, err := rt.Expand(n)
	if err != nil {
		failed(rt, n.ID, err)
		return
	}
	desired := make([]*unstructured.Unstructured, len(items))
	seen := map[string]int{}
	for i, item := range items {
		d, err := rt.RenderItem(n, item, len(items))
		if err != nil {
			failed(rt, n.ID, fmt.Errorf("item %d: %w", i, err))
			return
		}
		id := cacheKey(d.GetNamespace(), d.GetName())
		if j, dup := seen[id]; dup {
			rt.Set(n.ID, trt.StateError, fmt.Sprintf("items %d and %d both render %s %s: collection items must be distinct", j, i, n.GVK.Kind, id))
			return
		}
		if why := acc.confined(n, d); why != "" {
			rt.Set(n.ID, trt.StateError, fmt.Sprintf("item %d: %s", i, why))
			return
		}
		seen[id] = i
		desired[i] = d
	}
	observed := make([]*unstructured.Unstructured, len(items))
	errs := make([]error, len(items))
	waits := make([]string, len(items))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range desired {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			defer c.recoverItem(k, n.ID, i, &errs[i])
			observed[i], waits[i], errs[i] = c.ensure(ctx, k, acc.dyn, n, desired[i])
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		rt.Set(n.ID, trt.StateError, err.Error())
		return
	}
	for _, w := range waits {
		if w != "" {
			rt.Set(n.ID, trt.StateWaiting, w)
			return
		}
	}
	rt.ObserveList(n.ID, observed)
	ready, reason, err := rt.ReadyList(n, len(items))
	switch {
	case err != nil:
		rt.Set(n.ID, trt.StateError, err.Error())
	case !ready:
		rt.Set(n.ID, trt.StateWaiting, reason)
	default:
		rt.Set(n.ID, trt.StateReady, "")
	}
}

func (c *Controller) markReadiness(rt *trt.Instance, n *graph.Node) {
	ready, reason, err := rt.Ready(n)
	switch {
	case err != nil:
		rt.Set(n.ID, trt.StateError, err.Error())
	case !ready:
		rt.Set(n.ID, trt.StateWaiting, reason)
	default:
		rt.Set(n.ID, trt.StateReady, "")
	}
}

// syncExternal reads an externalRef from a watched cache; it is never
// written. The instance is re-enqueued when the object appears or changes.
func (c *Controller) syncExternal(ctx context.Context, k key, rt *trt.Instance, n *graph.Node) {
	ns, name, err := rt.ExternalName(n)
	if err != nil {
		failed(rt, n.ID, err)
		return
	}
	ref := externalRef{gvr: n.GVR, namespace: ns, name: name}
	if n.External.Selector != nil {
		sel, err := rt.ExternalSelector(n)
		if err != nil {
			failed(rt, n.ID, err)
			return
		}
		ref.name, ref.selector = "", sel
	}
	c.watchExternal(k, ref)
	if !c.externals.waitSynced(ctx, n.GVR) {
		rt.Set(n.ID, trt.StateWaiting, "waiting for the cache of "+n.GVR.Resource)
		return
	}
	inf := c.externals.get(n.GVR)
	if ref.selector != nil {
		var objs []any
		if ns == "" {
			objs = inf.GetStore().List()
		} else {
			objs, _ = inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
		}
		var matched []*unstructured.Unstructured
		for _, o := range objs {
			if m := metaOf(o); m != nil && ref.selector.Matches(labels.Set(m.GetLabels())) {
				matched = append(matched, decode(o))
			}
		}
		sort.Slice(matched, func(i, j int) bool {
			return cacheKey(matched[i].GetNamespace(), matched[i].GetName()) < cacheKey(matched[j].GetNamespace(), matched[j].GetName())
		})
		rt.ObserveList(n.ID, matched)
		rt.Set(n.ID, trt.StateReady, "")
		return
	}
	obj, ok, _ := inf.GetStore().GetByKey(cacheKey(ns, name))
	if !ok {
		rt.Set(n.ID, trt.StateWaiting, fmt.Sprintf("waiting for external reference %s %s", n.GVK.Kind, cacheKey(ns, name)))
		return
	}
	rt.Observe(n.ID, decode(obj))
	c.markReadiness(rt, n)
}

// cachedChild returns a child from the cache, and whether it has fields
// trellis inherits: through its Update entry or kro's Apply entry (see
// write and takeOver).
func (c *Controller) cachedChild(n *graph.Node, ns, name string) (*unstructured.Unstructured, bool) {
	obj, ok, err := c.children.get(n.GVR).GetStore().GetByKey(cacheKey(ns, name))
	if err != nil || !ok {
		return nil, false
	}
	cp, _ := obj.(*compact)
	return decode(obj), cp != nil && cp.updateOwned
}

// prune deletes children that the graph no longer wants: nodes excluded by
// includeWhen, nodes removed from the RGD, objects left behind by a rename.
// It runs only when every node settled, so every wanted child was observed.
func (c *Controller) prune(ctx context.Context, acc childAccess, reg *registration, inst *unstructured.Unstructured, rt *trt.Instance) error {
	wanted := map[string]bool{}
	for _, n := range reg.graph.Nodes {
		if rt.Status(n.ID).State != trt.StateSkipped && n.External == nil {
			if o := rt.Observed(n.ID); o != nil {
				wanted[string(o.GetUID())] = true
			}
			for _, o := range rt.ObservedList(n.ID) {
				wanted[string(o.GetUID())] = true
			}
		}
	}
	var errs []error
	current := gvrsOf(reg.graph)
	all := unionGVRs(current, inventoryGVRs(inst)) // current first: the rest are the dropped kinds
	for _, gvr := range all[len(current):] {
		c.children.waitSynced(ctx, gvr) // a kind the graph dropped: make sure its cache is filled
	}
	stale := len(all) > len(current)
	for _, child := range c.ownedChildren(inst, all) {
		if wanted[string(child.uid)] || child.terminating {
			continue
		}
		if _, err := c.deleteChild(ctx, acc, child); err != nil {
			errs = append(errs, err)
		}
	}
	if stale && len(errs) == 0 && len(c.ownedChildren(inst, all[len(current):])) == 0 {
		// Nothing is left in the kinds the graph dropped: shrink the inventory.
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{annotationInventory: formatInventory(current)}}})
		gvk := inst.GroupVersionKind()
		gvr := reg.graph.Instance.GVR()
		if _, err := c.dyn.Resource(gvr).Namespace(inst.GetNamespace()).Patch(ctx, inst.GetName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: c.opts.FieldManager}); err != nil {
			errs = append(errs, fmt.Errorf("shrinking the child inventory of %s: %w", gvk.Kind, err))
		}
	}
	return errors.Join(errs...)
}

// childCacheWait bounds how long a reconcile waits for a child kind's cache:
// one that cannot list (trellis may not list the kind yet) must not hold the
// instance back, so that its writes fail and say which permission is missing.
const childCacheWait = 5 * time.Second

// childCachesListed says whether every child kind of g has listed once.
func (c *Controller) childCachesListed(g *graph.Graph) bool {
	for _, n := range g.Nodes {
		if n.External == nil && !c.children.get(n.GVR).HasSynced() {
			return false
		}
	}
	return true
}

// childCachesSynced waits until the informer of every child kind of g has
// listed once, at most childCacheWait, and says whether they all have.
func (c *Controller) childCachesSynced(ctx context.Context, g *graph.Graph) bool {
	wctx, cancel := context.WithTimeout(ctx, childCacheWait)
	defer cancel()
	for _, n := range g.Nodes {
		if n.External != nil {
			continue
		}
		if inf := c.children.get(n.GVR); !inf.HasSynced() && !c.children.waitSynced(wctx, n.GVR) {
			return false // not listed in time: go on, as without the wait
		}
	}
	return true
}
