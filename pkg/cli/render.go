package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellis-dev/trellis/pkg/graph"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
	"github.com/trellis-dev/trellis/pkg/version"
)

// PrepareInstance turns an instance as written by a user into what the
// apiserver would store: kind and apiVersion checked against the graph,
// namespace set, unknown fields pruned and defaults applied from the
// generated CRD's schema. Schema violations are returned as messages (the
// apiserver would reject the instance).
func PrepareInstance(g *graph.Graph, inst *unstructured.Unstructured, namespace string) (*unstructured.Unstructured, []string, error) {
	out := inst.DeepCopy()
	gvk := out.GroupVersionKind()
	if gvk.Kind != g.Instance.GVK.Kind || gvk.Group != g.Instance.GVK.Group {
		return nil, nil, fmt.Errorf("instance is a %s, the RGD defines %s", kindString(gvk), kindString(g.Instance.GVK))
	}
	if gvk.Version != g.Instance.GVK.Version {
		return nil, nil, fmt.Errorf("instance has apiVersion %s, the RGD serves %s", gvk.GroupVersion(), g.Instance.GVK.GroupVersion())
	}
	if g.Instance.Namespaced {
		if out.GetNamespace() == "" {
			if namespace == "" {
				namespace = "default"
			}
			out.SetNamespace(namespace)
		}
	} else {
		out.SetNamespace("")
	}
	sch, err := newObjectSchema(g.CRD.Spec.Versions[0].Schema.OpenAPIV3Schema)
	if err != nil {
		return nil, nil, fmt.Errorf("the generated CRD's schema: %w", err)
	}
	var problems []string
	// kubectl's strict field validation rejects unknown fields; the
	// apiserver would prune what gets through.
	unknown := structuralpruning.PruneWithOptions(out.Object, sch.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, u := range unknown {
		problems = append(problems, fmt.Sprintf("%s: unknown field", u))
	}
	structuraldefaulting.Default(out.Object, sch.structural)
	for _, e := range apiservervalidation.ValidateCustomResource(nil, out.UnstructuredContent(), sch.validator) {
		problems = append(problems, fieldFirst(e.Error()))
	}
	return out, problems, nil
}

// fieldFirst puts the field a validation error is about first: errors of
// the schema validator carry no field path ("<nil>: ... in spec.x") but
// name it at the end.
func fieldFirst(msg string) string {
	msg = strings.TrimPrefix(msg, "<nil>.")
	rest, ok := strings.CutPrefix(msg, "<nil>: ")
	if !ok {
		return msg
	}
	if i := strings.LastIndex(rest, " in "); i >= 0 && !strings.Contains(rest[i+4:], " ") {
		return rest[i+4:] + ": " + rest[:i]
	}
	return rest
}

// RenderedObject is one object of a resource (collections have several).
type RenderedObject struct {
	Object *unstructured.Unstructured
	// Unresolved lists the fields left out because their data is not known.
	Unresolved []trt.Unresolved
	// Observed is set when --observed supplied the object's server state.
	Observed bool
}

// NodeResult is what render found out about one resource.
type NodeResult struct {
	Node *graph.Node
	// State is one of: rendered, partial (some fields unresolved),
	// external, skipped, waiting, error.
	State  string
	Reason string
	// Objects are the desired objects (for rendered/partial; one per item
	// for collections) or the observed objects of an external reference.
	Objects []*RenderedObject
	// Ready is the readyWhen verdict on what is known (the rendered object,
	// or the --observed one); ReadyReason explains a false verdict.
	Ready       bool
	ReadyReason string
}

// Object returns the first object, if any.
func (r *NodeResult) Object() *unstructured.Unstructured {
	if len(r.Objects) == 0 {
		return nil
	}
	return r.Objects[0].Object
}

// RenderResult is the outcome of rendering one instance.
type RenderResult struct {
	Instance *unstructured.Unstructured
	Nodes    []*NodeResult
	// Status is the instance status projection from what is known.
	Status map[string]any
}

// RenderOptions parameterize Render.
type RenderOptions struct {
	// Observed are server states of children (and external references),
	// matched by kind, namespace and name.
	Observed []*unstructured.Unstructured
	// Version is the kro.run/kro-version label value (default: this build's).
	Version string
	// ChildLabels is the controller's --child-labels (default lean).
	ChildLabels trt.ChildLabelSet
}

// Render evaluates an instance (already prepared) against a graph the way
// the instance controller does, without a cluster: each child is rendered,
// then "observed" as the apply would return it (the rendered object merged
// over its --observed state), and its dependents are evaluated next. Unlike
// the controller, render goes on past children that are not ready yet, so
// that every child is shown; readiness is reported instead.
func Render(g *graph.Graph, inst *unstructured.Unstructured, opts RenderOptions) *RenderResult {
	ver := opts.Version
	if ver == "" {
		ver = version.Label()
	}
	rt := trt.New(g, inst, trt.ChildLabels(inst, ver, opts.ChildLabels))
	res := &RenderResult{Instance: inst}
	byID := map[string]*NodeResult{}
	for {
		batch := rt.Next()
		if len(batch) == 0 {
			break
		}
		for _, n := range batch {
			byID[n.ID] = renderNode(rt, n, opts.Observed)
		}
	}
	for _, n := range g.Nodes {
		r := byID[n.ID]
		if r == nil {
			st := rt.Status(n.ID)
			r = &NodeResult{Node: n, State: stateName(st.State), Reason: st.Reason}
		}
		res.Nodes = append(res.Nodes, r)
	}
	res.Status, _ = rt.ProjectStatus()
	return res
}

func stateName(s trt.State) string {
	switch s {
	case trt.StateSkipped:
		return "skipped"
	case trt.StateError:
		return "error"
	default:
		return "waiting"
	}
}

func renderNode(rt *trt.Instance, n *graph.Node, observed []*unstructured.Unstructured) *NodeResult {
	r := &NodeResult{Node: n}
	wait := func(state, reason string) *NodeResult {
		r.State, r.Reason = state, reason
		st := trt.StateWaiting
		if state == "error" {
			st = trt.StateError
		} else if state == "skipped" {
			st = trt.StateSkipped
		}
		rt.Set(n.ID, st, reason)
		return r
	}
	if n.External != nil {
		ns, name, err := rt.ExternalName(n)
		if err != nil {
			if !errors.Is(err, trt.ErrPending) {
				return wait("error", err.Error())
			}
			return wait("waiting", err.Error())
		}
		if n.External.Selector != nil {
			sel, err := rt.ExternalSelector(n)
			if err != nil {
				return wait("error", fmt.Sprintf("externalRef selector: %v", err))
			}
			var matched []*unstructured.Unstructured
			for _, o := range observed {
				if o.GroupVersionKind().GroupKind() == n.GVK.GroupKind() && (ns == "" || o.GetNamespace() == "" || o.GetNamespace() == ns) &&
					sel.Matches(labels.Set(o.GetLabels())) {
					matched = append(matched, o)
					r.Objects = append(r.Objects, &RenderedObject{Object: o, Observed: true})
				}
			}
			r.State, r.Ready = "external", true
			r.Reason = fmt.Sprintf("%d objects from --observed match the selector", len(matched))
			rt.ObserveList(n.ID, matched)
			rt.Set(n.ID, trt.StateReady, "")
			return r
		}
		obs := findObserved(observed, n.GVK, ns, name, "")
		if obs == nil {
			return wait("waiting", fmt.Sprintf("external reference %s %s: give its state with --observed", n.GVK.Kind, joinNS(ns, name)))
		}
		r.State = "external"
		r.Objects = []*RenderedObject{{Object: obs, Observed: true}}
		rt.Observe(n.ID, obs)
		markReady(rt, n, r, -1)
		return r
	}
	included, err := rt.Included(n)
	switch {
	case errors.Is(err, trt.ErrPending):
		return wait("waiting", err.Error())
	case err != nil:
		return wait("error", err.Error())
	case !included:
		return wait("skipped", "includeWhen is false")
	}
	var items []trt.Item
	if len(n.ForEach) > 0 {
		items, err = rt.Expand(n)
		switch {
		case errors.Is(err, trt.ErrPending):
			return wait("waiting", err.Error())
		case err != nil:
			return wait("error", err.Error())
		}
	}
	render := func(i int) (*unstructured.Unstructured, []trt.Unresolved, error) {
		if items == nil {
			return rt.RenderPartial(n)
		}
		return rt.RenderItemPartial(n, items[i], len(items))
	}
	count := 1
	if items != nil {
		count = len(items)
	}
	r.State = "rendered"
	var seen []*unstructured.Unstructured
	for i := 0; i < count; i++ {
		obj, unresolved, err := render(i)
		if err != nil {
			if items != nil {
				err = fmt.Errorf("item %d: %w", i, err)
			}
			r.Objects = nil
			return wait("error", err.Error())
		}
		for _, u := range unresolved {
			if u.Instance {
				// No observed state can resolve it: the controller does not
				// apply the object and waits for the instance to change.
				r.Objects = nil
				return wait("waiting", fmt.Sprintf("%s %s (needed at %s)", InstanceDataMissing, pendingCause(u.Reason), u.Path))
			}
		}
		ro := &RenderedObject{Object: obj, Unresolved: unresolved}
		if len(unresolved) > 0 {
			r.State = "partial"
		} else {
			// What the controller adds before applying.
			ann := obj.GetAnnotations()
			ann[trt.AnnotationDesiredHash] = trt.DesiredHash(obj)
			obj.SetAnnotations(ann)
		}
		s := obj.DeepCopy()
		if obs := findObserved(observed, n.GVK, obj.GetNamespace(), obj.GetName(), ""); obs != nil {
			ro.Observed = true
			s = &unstructured.Unstructured{Object: mergeOver(obs.DeepCopy().Object, obj.DeepCopy().Object).(map[string]any)}
		}
		r.Objects = append(r.Objects, ro)
		seen = append(seen, s)
	}
	if items != nil {
		rt.ObserveList(n.ID, seen)
		markReady(rt, n, r, len(items))
		return r
	}
	if len(seen) == 1 && !r.Objects[0].Observed {
		// Without --observed, match by node id (a child renamed by a change).
		if obs := findObserved(observed, n.GVK, "\x00", "\x00", n.ID); obs != nil {
			r.Objects[0].Observed = true
			seen[0] = &unstructured.Unstructured{Object: mergeOver(obs.DeepCopy().Object, r.Objects[0].Object.DeepCopy().Object).(map[string]any)}
		}
	}
	rt.Observe(n.ID, seen[0])
	markReady(rt, n, r, -1)
	return r
}

// markReady records readiness (of a collection of size items when items
// >= 0) and lets dependents proceed regardless.
func markReady(rt *trt.Instance, n *graph.Node, r *NodeResult, items int) {
	var ready bool
	var reason string
	var err error
	if items >= 0 {
		ready, reason, err = rt.ReadyList(n, items)
	} else {
		ready, reason, err = rt.Ready(n)
	}
	switch {
	case err != nil:
		r.ReadyReason = err.Error()
	case !ready:
		r.ReadyReason = reason
	default:
		r.Ready = true
	}
	rt.Set(n.ID, trt.StateReady, "")
}

// mergeOver overlays desired on base: what an apply response looks like
// (the applier's fields win, the rest of the server state stays).
func mergeOver(base, desired any) any {
	bm, ok1 := base.(map[string]any)
	dm, ok2 := desired.(map[string]any)
	if !ok1 || !ok2 {
		return desired
	}
	for k, v := range dm {
		bm[k] = mergeOver(bm[k], v)
	}
	return bm
}

func findObserved(list []*unstructured.Unstructured, gvk schema.GroupVersionKind, ns, name, id string) *unstructured.Unstructured {
	for _, o := range list {
		if o.GroupVersionKind().GroupKind() != gvk.GroupKind() {
			continue
		}
		if o.GetName() == name && (o.GetNamespace() == "" || ns == "" || o.GetNamespace() == ns) {
			return o
		}
	}
	if id != "" {
		for _, o := range list {
			if o.GroupVersionKind().GroupKind() == gvk.GroupKind() && o.GetLabels()[trt.LabelNodeID] == id {
				return o
			}
		}
	}
	return nil
}

func joinNS(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// WriteRender prints the result as a YAML stream: a summary comment, then
// each child in apply order. Skipped and waiting children appear as
// comments; unresolved fields keep their template text and carry a comment
// with the reason.
func WriteRender(w io.Writer, g *graph.Graph, res *RenderResult) error {
	inst := res.Instance
	fmt.Fprintf(w, "# %s %s: %d resources\n", g.Instance.GVK.Kind, joinNS(inst.GetNamespace(), inst.GetName()), len(g.Nodes))
	for _, r := range res.Nodes {
		fmt.Fprintf(w, "#   %-*s %s\n", idWidth(g), r.Node.ID, summary(r))
	}
	if inst.GetUID() == "" {
		fmt.Fprintf(w, "# (label %s is empty: the apiserver assigns the instance's uid when it is created)\n", trt.LabelInstanceID)
	}
	if len(res.Status) > 0 {
		st, err := marshalObject(res.Status, nil, "")
		if err == nil {
			fmt.Fprintf(w, "# instance status from what is known:\n")
			for _, line := range strings.Split(strings.TrimRight(st, "\n"), "\n") {
				fmt.Fprintf(w, "#   %s\n", line)
			}
		}
	}
	for _, r := range res.Nodes {
		if r.State == "external" {
			continue
		}
		for i, ro := range r.Objects {
			obj := ro.Object.DeepCopy().Object
			comments := map[string]string{}
			for _, u := range ro.Unresolved {
				setKeys(obj, u.Path, u.Keys, u.Raw)
				comments[u.Path] = "# unresolved: " + pendingReason(u.Reason)
			}
			head := fmt.Sprintf("%s (apply order %d)", r.Node.ID, r.Node.ApplyOrder)
			if len(r.Node.ForEach) > 0 {
				head = fmt.Sprintf("%s item %d of %d (apply order %d)", r.Node.ID, i+1, len(r.Objects), r.Node.ApplyOrder)
			}
			if ro.Observed {
				head += ", observed state from --observed"
			}
			s, err := marshalObject(obj, comments, head)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "---\n%s", s)
		}
	}
	return nil
}

func idWidth(g *graph.Graph) int {
	w := 0
	for _, n := range g.Nodes {
		if len(n.ID) > w {
			w = len(n.ID)
		}
	}
	return w + 1
}

func summary(r *NodeResult) string {
	what := r.Node.GVK.Kind
	switch {
	case len(r.Node.ForEach) > 0 && (r.State == "rendered" || r.State == "partial"):
		what += fmt.Sprintf(" collection of %d", len(r.Objects))
	case r.Node.External != nil && r.Node.External.Selector != nil && r.State == "external":
		what += fmt.Sprintf(" selector matching %d from --observed", len(r.Objects))
	case r.Object() != nil:
		what += " " + joinNS(r.Object().GetNamespace(), r.Object().GetName())
	}
	switch r.State {
	case "rendered", "external":
		s := what
		if r.State == "external" {
			s += " (external reference)"
		}
		if r.Ready {
			return s + "; ready"
		}
		return s + "; not ready yet: " + pendingReason(r.ReadyReason)
	case "partial":
		set := map[string]bool{}
		for _, ro := range r.Objects {
			for _, u := range ro.Unresolved {
				set[u.Path] = true
			}
		}
		paths := make([]string, 0, len(set))
		for p := range set {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		return what + "; unresolved: " + strings.Join(paths, ", ")
	case "skipped":
		return what + ": skipped (" + r.Reason + ")"
	default:
		return what + ": " + r.State + ": " + pendingReason(r.Reason)
	}
}

// InstanceDataMissing marks a resource that waits for data the instance
// does not have (render fails on it, the controller waits).
const InstanceDataMissing = "the instance does not set what"

// pendingCause turns a pending error into "${expr} reads (cause)".
func pendingCause(s string) string {
	s = oneLine(s)
	const marker = ": data pending: "
	if i := strings.LastIndex(s, marker); i >= 0 {
		return s[:i] + " reads (" + s[i+len(marker):] + ")"
	}
	return s
}

// pendingReason shortens a runtime "data pending" error to what is missing.
func pendingReason(s string) string {
	s = oneLine(s)
	const marker = ": data pending: "
	if i := strings.LastIndex(s, marker); i >= 0 {
		prefix := ""
		if strings.HasPrefix(s, "readyWhen[") || strings.HasPrefix(s, "includeWhen[") {
			if j := strings.IndexAny(s, " :"); j > 0 {
				prefix = s[:j] + ": "
			}
		}
		return prefix + s[i+len(marker):] + " (not observed yet; see --observed)"
	}
	return s
}

func oneLine(s string) string {
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return s
}
