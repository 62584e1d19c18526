package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/crd"
	"github.com/trellis-dev/trellis/pkg/graph"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// FindRGD finds the RGD on the cluster that generates kind (a kind name,
// plural or short name, case-insensitive, optionally with .group).
func FindRGD(ctx context.Context, c *Cluster, kind string) (*v1alpha1.ResourceGraphDefinition, error) {
	var list v1alpha1.ResourceGraphDefinitionList
	if err := c.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("listing ResourceGraphDefinitions: %w", err)
	}
	want := strings.ToLower(kind)
	wantGroup := ""
	if i := strings.Index(want, "."); i >= 0 {
		want, wantGroup = want[:i], want[i+1:]
	}
	var found []*v1alpha1.ResourceGraphDefinition
	for i := range list.Items {
		r := &list.Items[i]
		gvk, ok := generatedKind(r)
		if !ok || (wantGroup != "" && gvk.Group != wantGroup) {
			continue
		}
		names := []string{strings.ToLower(gvk.Kind), r.Name, crd.Plural(gvk.Kind)}
		names = append(names, r.Spec.Schema.ShortNames...)
		for _, n := range names {
			if strings.ToLower(n) == want {
				found = append(found, r)
				break
			}
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no ResourceGraphDefinition on the cluster defines kind %q", kind)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("several ResourceGraphDefinitions define kind %q; qualify it with its group (kind.group)", kind)
}

// LiveGraph evaluates an instance on the cluster read-only: each child is
// looked up (by the labels the controller puts on it, or by its rendered
// name), its readiness is evaluated, and dependents go on from what exists.
// Nothing is written.
func LiveGraph(ctx context.Context, c *Cluster, g *graph.Graph, inst *unstructured.Unstructured) (map[string]*NodeState, error) {
	children, err := ownedChildren(ctx, c, g, inst)
	if err != nil {
		return nil, err
	}
	rt := trt.New(g, inst, trt.ChildLabels(inst, "", trt.ChildLabelsLean)) // labels are not compared
	states := map[string]*NodeState{}
	for {
		batch := rt.Next()
		if len(batch) == 0 {
			break
		}
		for _, n := range batch {
			states[n.ID] = liveNode(ctx, c, rt, n, children)
		}
	}
	for _, n := range g.Nodes {
		if states[n.ID] == nil {
			st := rt.Status(n.ID)
			states[n.ID] = &NodeState{State: stateName(st.State), Reason: st.Reason}
		}
	}
	return states, nil
}

func ownedChildren(ctx context.Context, c *Cluster, g *graph.Graph, inst *unstructured.Unstructured) (map[string][]*unstructured.Unstructured, error) {
	out := map[string][]*unstructured.Unstructured{}
	if inst.GetUID() == "" {
		return out, nil
	}
	sel := labels.SelectorFromSet(labels.Set{trt.LabelInstanceID: string(inst.GetUID())}).String()
	seen := map[string]bool{}
	for _, n := range g.Nodes {
		key := n.GVR.String()
		if n.External != nil || seen[key] {
			continue
		}
		seen[key] = true
		list, err := c.Dynamic.Resource(n.GVR).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
				continue
			}
			return nil, fmt.Errorf("listing %s: %w", n.GVR.Resource, err)
		}
		for i := range list.Items {
			item := &list.Items[i]
			if id := item.GetLabels()[trt.LabelNodeID]; id != "" {
				out[id] = append(out[id], item)
			}
		}
	}
	return out, nil
}

func liveNode(ctx context.Context, c *Cluster, rt *trt.Instance, n *graph.Node, children map[string][]*unstructured.Unstructured) *NodeState {
	st := &NodeState{}
	fail := func(state, reason string) *NodeState {
		st.State, st.Reason = state, reason
		rs := trt.StateWaiting
		if state == "error" {
			rs = trt.StateError
		} else if state == "skipped" {
			rs = trt.StateSkipped
		}
		rt.Set(n.ID, rs, reason)
		return st
	}
	// find returns the live object of a rendered child.
	find := func(desired *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		for _, o := range children[n.ID] {
			if o.GetName() == desired.GetName() && o.GetNamespace() == desired.GetNamespace() {
				return o, nil
			}
		}
		o, err := c.Dynamic.Resource(n.GVR).Namespace(desired.GetNamespace()).Get(ctx, desired.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return o, err
	}
	var obj *unstructured.Unstructured
	if n.External != nil {
		ns, name, err := rt.ExternalName(n)
		if err != nil {
			return fail("waiting", pendingLive(err))
		}
		if n.External.Selector != nil {
			sel, err := rt.ExternalSelector(n)
			if err != nil {
				return fail("error", err.Error())
			}
			list, err := c.Dynamic.Resource(n.GVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				return fail("error", err.Error())
			}
			objs := make([]*unstructured.Unstructured, len(list.Items))
			for i := range list.Items {
				objs[i] = &list.Items[i]
			}
			sort.Slice(objs, func(i, j int) bool {
				return joinNS(objs[i].GetNamespace(), objs[i].GetName()) < joinNS(objs[j].GetNamespace(), objs[j].GetName())
			})
			rt.ObserveList(n.ID, objs)
			st.State, st.Object = "ready", fmt.Sprintf("%d %s matching %s", len(objs), n.GVR.Resource, sel)
			rt.Set(n.ID, trt.StateReady, "")
			return st
		}
		st.Object = n.GVK.Kind + " " + joinNS(ns, name)
		o, err := c.Dynamic.Resource(n.GVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fail("waiting", "external reference does not exist")
		}
		if err != nil {
			return fail("error", err.Error())
		}
		obj = o
	} else {
		included, err := rt.Included(n)
		switch {
		case errors.Is(err, trt.ErrPending):
			return fail("waiting", "includeWhen: "+pendingLive(err))
		case err != nil:
			return fail("error", err.Error())
		case !included:
			return fail("skipped", "includeWhen is false")
		}
		if len(n.ForEach) > 0 {
			items, err := rt.Expand(n)
			switch {
			case errors.Is(err, trt.ErrPending):
				return fail("waiting", pendingLive(err))
			case err != nil:
				return fail("error", err.Error())
			}
			var existing []*unstructured.Unstructured
			for _, item := range items {
				d, err := rt.RenderItem(n, item, len(items))
				if errors.Is(err, trt.ErrPending) {
					return fail("waiting", pendingLive(err))
				} else if err != nil {
					return fail("error", err.Error())
				}
				o, err := find(d)
				if err != nil {
					return fail("error", err.Error())
				}
				if o != nil {
					existing = append(existing, o)
				}
			}
			st.Object = fmt.Sprintf("%d of %d %s", len(existing), len(items), n.GVR.Resource)
			rt.ObserveList(n.ID, existing)
			ready, reason, err := rt.ReadyList(n, len(items))
			switch {
			case err != nil:
				return fail("error", err.Error())
			case !ready:
				return fail("waiting", pendingLive(errors.New(reason)))
			}
			st.State = "ready"
			rt.Set(n.ID, trt.StateReady, "")
			return st
		}
		desired, err := rt.Render(n)
		switch {
		case errors.Is(err, trt.ErrPending):
			return fail("waiting", pendingLive(err))
		case err != nil:
			return fail("error", err.Error())
		}
		st.Object = n.GVK.Kind + " " + joinNS(desired.GetNamespace(), desired.GetName())
		obj, err = find(desired)
		if err != nil {
			return fail("error", err.Error())
		}
		if obj == nil {
			return fail("missing", "not created yet")
		}
	}
	if obj.GetDeletionTimestamp() != nil {
		rt.Observe(n.ID, obj)
		return fail("waiting", "being deleted")
	}
	rt.Observe(n.ID, obj)
	ready, reason, err := rt.Ready(n)
	switch {
	case err != nil:
		return fail("error", err.Error())
	case !ready:
		return fail("waiting", pendingLive(errors.New(reason)))
	}
	st.State = "ready"
	rt.Set(n.ID, trt.StateReady, "")
	return st
}

func pendingLive(err error) string {
	s := oneLine(err.Error())
	const marker = ": data pending: "
	if i := strings.LastIndex(s, marker); i >= 0 {
		return s[i+len(marker):]
	}
	return s
}

// InstanceSummary is a one-line view of an instance's status.
func InstanceSummary(inst *unstructured.Unstructured) string {
	state, _, _ := unstructured.NestedString(inst.Object, "status", "state")
	if state == "" {
		state = "no status yet"
	}
	var msgs []string
	conds, _, _ := unstructured.NestedSlice(inst.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" && m["status"] != "True" {
			if s, _ := m["message"].(string); s != "" {
				msgs = append(msgs, s)
			}
		}
	}
	sort.Strings(msgs)
	if len(msgs) > 0 {
		return state + ": " + strings.Join(msgs, "; ")
	}
	return state
}

// RunLiveGraph prints the live graph of one instance: kind/name in ns.
func RunLiveGraph(ctx context.Context, c *Cluster, ref, namespace, format string, color bool, out io.Writer) error {
	kind, name, ok := strings.Cut(ref, "/")
	if !ok || kind == "" || name == "" {
		return fmt.Errorf("want <kind>/<name>, got %q", ref)
	}
	rgd, err := FindRGD(ctx, c, kind)
	if err != nil {
		return err
	}
	g, err := graph.Build(rgd, c.Resolver)
	if err != nil {
		return fmt.Errorf("ResourceGraphDefinition %s does not build: %w", rgd.Name, err)
	}
	ri := c.Dynamic.Resource(g.Instance.GVR())
	var inst *unstructured.Unstructured
	if g.Instance.Namespaced {
		if namespace == "" {
			namespace = c.Namespace
		}
		inst, err = ri.Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	} else {
		inst, err = ri.Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	states, err := LiveGraph(ctx, c, g, inst)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("%s %s (%s): %s", g.Instance.GVK.Kind, joinNS(inst.GetNamespace(), inst.GetName()), rgd.Name, InstanceSummary(inst))
	return WriteGraph(out, format, g, title, states, color)
}
