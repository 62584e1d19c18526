package cli

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

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
	v := g.CRD.Spec.Versions[0]
	internal := &apiextensions.JSONSchemaProps{}
	if err := extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
		return nil, nil, fmt.Errorf("converting the CRD schema: %w", err)
	}
	ss, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, nil, fmt.Errorf("CRD schema is not structural: %w", err)
	}
	structuralpruning.Prune(out.Object, ss, true)
	structuraldefaulting.Default(out.Object, ss)
	validator, _, err := apiservervalidation.NewSchemaValidator(internal)
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	for _, e := range apiservervalidation.ValidateCustomResource(field.NewPath(""), out.UnstructuredContent(), validator) {
		problems = append(problems, strings.TrimPrefix(e.Error(), "<nil>."))
	}
	return out, problems, nil
}

// NodeResult is what render found out about one resource.
type NodeResult struct {
	Node *graph.Node
	// State is one of: rendered, partial (some fields unresolved),
	// external, skipped, waiting, error.
	State  string
	Reason string
	// Object is the desired object (for rendered/partial) or the observed
	// object of an external reference.
	Object     *unstructured.Unstructured
	Unresolved []trt.Unresolved
	// Ready is the readyWhen verdict on what is known (the rendered object,
	// or the --observed one); ReadyReason explains a false verdict.
	Ready       bool
	ReadyReason string
	// Observed is set when --observed supplied the object's server state.
	Observed bool
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
	rt := trt.New(g, inst, trt.ChildLabels(inst, ver))
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
	if n.External != nil {
		ns, name, err := rt.ExternalName(n)
		if err != nil {
			r.State, r.Reason = "waiting", err.Error()
			if !errors.Is(err, trt.ErrPending) {
				r.State = "error"
			}
			rt.Set(n.ID, trt.StateWaiting, r.Reason)
			return r
		}
		obs := findObserved(observed, n.GVK, ns, name, "")
		if obs == nil {
			r.State = "waiting"
			r.Reason = fmt.Sprintf("external reference %s %s: give its state with --observed", n.GVK.Kind, joinNS(ns, name))
			rt.Set(n.ID, trt.StateWaiting, r.Reason)
			return r
		}
		r.State, r.Object, r.Observed = "external", obs, true
		rt.Observe(n.ID, obs)
		markReady(rt, n, r)
		return r
	}
	included, err := rt.Included(n)
	switch {
	case errors.Is(err, trt.ErrPending):
		r.State, r.Reason = "waiting", err.Error()
		rt.Set(n.ID, trt.StateWaiting, err.Error())
		return r
	case err != nil:
		r.State, r.Reason = "error", err.Error()
		rt.Set(n.ID, trt.StateError, err.Error())
		return r
	case !included:
		r.State, r.Reason = "skipped", "includeWhen is false"
		rt.Set(n.ID, trt.StateSkipped, r.Reason)
		return r
	}
	obj, unresolved, err := rt.RenderPartial(n)
	if err != nil {
		r.State, r.Reason = "error", err.Error()
		rt.Set(n.ID, trt.StateError, err.Error())
		return r
	}
	r.State, r.Object, r.Unresolved = "rendered", obj, unresolved
	if len(unresolved) > 0 {
		r.State = "partial"
	} else {
		// What the controller adds before applying.
		ann := obj.GetAnnotations()
		ann[trt.AnnotationDesiredHash] = trt.DesiredHash(obj)
		obj.SetAnnotations(ann)
	}
	seen := obj.DeepCopy()
	if obs := findObserved(observed, n.GVK, obj.GetNamespace(), obj.GetName(), n.ID); obs != nil {
		r.Observed = true
		seen = &unstructured.Unstructured{Object: mergeOver(obs.DeepCopy().Object, obj.DeepCopy().Object).(map[string]any)}
	}
	rt.Observe(n.ID, seen)
	markReady(rt, n, r)
	return r
}

// markReady records readiness and lets dependents proceed regardless.
func markReady(rt *trt.Instance, n *graph.Node, r *NodeResult) {
	ready, reason, err := rt.Ready(n)
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
		if r.Object == nil || r.State == "external" {
			continue
		}
		obj := r.Object.DeepCopy().Object
		comments := map[string]string{}
		for _, u := range r.Unresolved {
			setPath(obj, u.Path, u.Raw)
			comments[u.Path] = "# unresolved: " + pendingReason(u.Reason)
		}
		head := fmt.Sprintf("%s (apply order %d)", r.Node.ID, r.Node.ApplyOrder)
		if r.Observed {
			head += ", observed state from --observed"
		}
		s, err := marshalObject(obj, comments, head)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "---\n%s", s)
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
	if r.Object != nil {
		what += " " + joinNS(r.Object.GetNamespace(), r.Object.GetName())
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
		paths := make([]string, len(r.Unresolved))
		for i, u := range r.Unresolved {
			paths[i] = u.Path
		}
		sort.Strings(paths)
		return what + "; unresolved: " + strings.Join(paths, ", ")
	case "skipped":
		return what + ": skipped (" + r.Reason + ")"
	default:
		return what + ": " + r.State + ": " + pendingReason(r.Reason)
	}
}

// pendingReason shortens a runtime "data pending" error to what is missing.
func pendingReason(s string) string {
	s = oneLine(s)
	const marker = ": data pending: "
	if i := strings.LastIndex(s, marker); i >= 0 {
		return s[i+len(marker):] + " (not observed yet; see --observed)"
	}
	return s
}

func oneLine(s string) string {
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return s
}
