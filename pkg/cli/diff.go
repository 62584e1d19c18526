package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/crd"
	"github.com/trellis-dev/trellis/pkg/graph"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
	"github.com/trellis-dev/trellis/pkg/version"
)

// FieldManager is the server-side apply field manager of the controller;
// dry runs use it so that the result is what the controller's apply gives.
const FieldManager = "trellis"

// DiffOptions parameterize RunDiff.
type DiffOptions struct {
	// Namespace limits the instances compared ("" = all namespaces).
	Namespace string
	// Version is the controller version label (default: this build's).
	Version string
	// ChildLabels is the controller's --child-labels (default lean).
	ChildLabels trt.ChildLabelSet
}

// DiffSummary counts what an RGD change would do.
type DiffSummary struct {
	// RGDChanged: the RGD is new, or its spec (after the API server's
	// defaulting) differs from the live one.
	RGDChanged bool
	// CRD is "would be created", "would be updated", "would be updated
	// (breaking)" or "unchanged".
	CRD                                  string
	Created, Changed, Pruned, Unresolved int
}

// Changes reports whether anything would change.
func (s DiffSummary) Changes() bool {
	return s.RGDChanged || s.CRD != crdUnchanged || s.Created+s.Changed+s.Pruned > 0
}

const crdUnchanged = "unchanged"

// ErrInvalid is returned (wrapped) by RunDiff when an input RGD does not
// build or the API server would reject it: a broken input, not a change.
var ErrInvalid = errors.New("invalid input")

// RunDiff compares the RGDs of the inputs with the cluster: the generated
// CRD (with breaking changes named) and, for every live instance, the
// children that would be created, changed (server-side dry-run apply, so
// defaults and other managers' fields are accounted for) or pruned. It
// writes nothing. It reports whether something would change.
func RunDiff(ctx context.Context, c *Cluster, in Inputs, opts DiffOptions, out, errOut io.Writer) (bool, error) {
	in.Cluster = c.Resolver
	chk, docs, err := in.load()
	if err != nil {
		return false, err
	}
	results, warnings := chk.Check(docs)
	WriteDiagnostics(errOut, warnings)
	if len(results) == 0 {
		return false, fmt.Errorf("no ResourceGraphDefinition found in %v", in.Files)
	}
	changed := false
	var failed error
	for _, r := range results {
		if !r.OK() {
			WriteDiagnostics(errOut, r.Diags)
			failed = fmt.Errorf("%w: some ResourceGraphDefinitions do not build", ErrInvalid)
			continue
		}
		sum, err := diffRGD(ctx, c, r, opts, out)
		if err != nil {
			return changed, err
		}
		if sum.Changes() {
			changed = true
		}
		fmt.Fprintf(out, "%s: CRD %s; children: %d to create, %d to change, %d to prune",
			r.Doc.Name(), sum.CRD, sum.Created, sum.Changed, sum.Pruned)
		if sum.Unresolved > 0 {
			fmt.Fprintf(out, ", %d not known before their dependencies exist", sum.Unresolved)
		}
		fmt.Fprintln(out)
	}
	return changed, failed
}

func diffRGD(ctx context.Context, c *Cluster, r *Checked, opts DiffOptions, out io.Writer) (DiffSummary, error) {
	g := r.Graph
	sum := DiffSummary{}
	name := r.Doc.Name()
	liveRGD := &v1alpha1.ResourceGraphDefinition{}
	if err := c.Client.Get(ctx, client.ObjectKey{Name: name}, liveRGD); apierrors.IsNotFound(err) {
		// A dry-run create: what the API server would reject is invalid
		// input, not a change.
		if err := c.Client.Create(ctx, r.RGD.DeepCopy(), client.DryRunAll); err != nil {
			return sum, fmt.Errorf("%w: %s: the API server would reject it: %s", ErrInvalid, name, errSummary(err))
		}
		sum.RGDChanged = true
		fmt.Fprintf(out, "ResourceGraphDefinition %s: would be created\n", name)
	} else if err != nil {
		return sum, err
	} else {
		// Compare what the API server would store: a dry-run update
		// applies its defaults (spec.schema.group, scope, ...).
		dry := liveRGD.DeepCopy()
		dry.Spec = *r.RGD.Spec.DeepCopy()
		if err := c.Client.Update(ctx, dry, client.DryRunAll); err != nil {
			return sum, fmt.Errorf("%w: %s: the API server would reject it: %s", ErrInvalid, name, errSummary(err))
		}
		if graph.Hash(&liveRGD.Spec) == graph.Hash(&dry.Spec) {
			fmt.Fprintf(out, "ResourceGraphDefinition %s: spec unchanged\n", name)
		} else {
			sum.RGDChanged = true
			fmt.Fprintf(out, "ResourceGraphDefinition %s: spec would change\n", name)
		}
	}

	desired := g.CRD.DeepCopy()
	if desired.Labels == nil {
		desired.Labels = map[string]string{}
	}
	desired.Labels[trt.LabelOwned] = "true"
	desired.Labels[trt.LabelRGDName] = name
	live := &extv1.CustomResourceDefinition{}
	err := c.Client.Get(ctx, client.ObjectKey{Name: desired.Name}, live)
	switch {
	case apierrors.IsNotFound(err):
		sum.CRD = "would be created"
		fmt.Fprintf(out, "CustomResourceDefinition %s: would be created\n", desired.Name)
		return sum, nil // no instances can exist
	case err != nil:
		return sum, err
	case crd.NeedsUpdate(live, desired):
		breaking := crd.Breaking(live, desired)
		sum.CRD = "would be updated"
		if len(breaking) > 0 {
			sum.CRD = "would be updated (breaking)"
			fmt.Fprintf(out, "CustomResourceDefinition %s: would be updated; BREAKING changes:\n", desired.Name)
			for _, b := range breaking {
				fmt.Fprintf(out, "  - %s\n", b)
			}
		} else {
			fmt.Fprintf(out, "CustomResourceDefinition %s: would be updated (compatible)\n", desired.Name)
		}
		a, _ := crdSchemaYAML(live)
		b, _ := crdSchemaYAML(desired)
		io.WriteString(out, indent(unifiedDiff("live/"+desired.Name, "desired/"+desired.Name, a, b, 3), "  "))
	default:
		sum.CRD = crdUnchanged
		fmt.Fprintf(out, "CustomResourceDefinition %s: unchanged\n", desired.Name)
	}

	list, err := c.Dynamic.Resource(g.Instance.GVR()).Namespace(opts.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return sum, nil
		}
		return sum, fmt.Errorf("listing %s: %w", g.Instance.Resource, err)
	}
	items := list.Items
	sort.Slice(items, func(i, j int) bool {
		return joinNS(items[i].GetNamespace(), items[i].GetName()) < joinNS(items[j].GetNamespace(), items[j].GetName())
	})
	for i := range items {
		if err := diffInstance(ctx, c, g, &items[i], opts, &sum, out); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

func crdSchemaYAML(c *extv1.CustomResourceDefinition) (string, error) {
	spec := c.Spec.DeepCopy()
	spec.Conversion = nil
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(spec)
	if err != nil {
		return "", err
	}
	return marshalObject(obj, nil, "")
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return prefix + strings.Join(lines, "\n"+prefix) + "\n"
}

// diffInstance evaluates one live instance with the new graph, dry-running
// each child's apply, and prints what would change.
func diffInstance(ctx context.Context, c *Cluster, g *graph.Graph, inst *unstructured.Unstructured, opts DiffOptions, sum *DiffSummary, out io.Writer) error {
	ver := opts.Version
	if ver == "" {
		ver = version.Label()
	}
	prepared, problems, err := PrepareInstance(g, inst, inst.GetNamespace())
	if err != nil {
		return err
	}
	prepared.SetUID(inst.GetUID())
	fmt.Fprintf(out, "%s %s:\n", g.Instance.GVK.Kind, joinNS(inst.GetNamespace(), inst.GetName()))
	for _, p := range problems {
		if f, ok := strings.CutSuffix(p, ": unknown field"); ok {
			fmt.Fprintf(out, "  ~ instance field %s is not in the new schema: the apiserver drops it\n", f)
			continue
		}
		fmt.Fprintf(out, "  ! the instance is invalid under the new schema: %s\n", p)
	}
	rt := trt.New(g, prepared, trt.ChildLabels(prepared, ver, opts.ChildLabels))
	wanted := map[string]bool{} // uids of children that stay
	evaluated := map[string]bool{}
	for {
		batch := rt.Next()
		if len(batch) == 0 {
			break
		}
		for _, n := range batch {
			evaluated[n.ID] = true
			diffNode(ctx, c, rt, n, sum, wanted, out)
		}
	}
	for _, n := range g.Nodes {
		if st := rt.Status(n.ID); !evaluated[n.ID] && st.State != trt.StateSkipped {
			fmt.Fprintf(out, "  ? %s: not evaluated: %s\n", n.ID, pendingLive(errors.New(st.Reason)))
			sum.Unresolved++
		}
	}
	// Children the new graph no longer wants.
	owned, err := allOwnedChildren(ctx, c, g, inst)
	if err != nil {
		return err
	}
	for _, child := range owned {
		if wanted[string(child.GetUID())] || child.GetDeletionTimestamp() != nil {
			continue
		}
		id := child.GetLabels()[trt.LabelNodeID]
		if n := g.ByID[id]; n != nil && rt.Status(id).State != trt.StateSkipped && rt.Status(id).State != trt.StateReady {
			continue // its fate is not known yet: the controller prunes only once every node settled
		}
		sum.Pruned++
		fmt.Fprintf(out, "  - %s %s (resources[%s]) would be pruned\n", child.GetKind(), joinNS(child.GetNamespace(), child.GetName()), id)
	}
	return nil
}

func diffNode(ctx context.Context, c *Cluster, rt *trt.Instance, n *graph.Node, sum *DiffSummary, wanted map[string]bool, out io.Writer) {
	settle := func(state trt.State, reason string) {
		rt.Set(n.ID, state, reason)
	}
	unknown := func(format string, args ...any) {
		fmt.Fprintf(out, "  ? %s: %s\n", n.ID, fmt.Sprintf(format, args...))
		sum.Unresolved++
		settle(trt.StateWaiting, "unknown")
	}
	failed := func(err error) {
		fmt.Fprintf(out, "  ! %s: %s\n", n.ID, oneLine(err.Error()))
		settle(trt.StateError, err.Error())
	}
	if n.External != nil {
		ns, name, err := rt.ExternalName(n)
		if err != nil {
			unknown("external reference: %s", pendingLive(err))
			return
		}
		if n.External.Selector != nil {
			sel, err := rt.ExternalSelector(n)
			if err != nil {
				failed(err)
				return
			}
			list, err := c.Dynamic.Resource(n.GVR).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				failed(err)
				return
			}
			objs := make([]*unstructured.Unstructured, len(list.Items))
			for i := range list.Items {
				objs[i] = &list.Items[i]
			}
			rt.ObserveList(n.ID, objs)
			settle(trt.StateReady, "")
			return
		}
		obj, err := c.Dynamic.Resource(n.GVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			unknown("external reference %s %s: %v", n.GVK.Kind, joinNS(ns, name), errSummary(err))
			return
		}
		rt.Observe(n.ID, obj)
		settle(trt.StateReady, "")
		return
	}
	included, err := rt.Included(n)
	switch {
	case errors.Is(err, trt.ErrPending):
		unknown("includeWhen cannot be decided yet: %s", pendingLive(err))
		return
	case err != nil:
		failed(err)
		return
	case !included:
		settle(trt.StateSkipped, "includeWhen is false")
		return
	}
	var desired []*unstructured.Unstructured
	if len(n.ForEach) > 0 {
		items, err := rt.Expand(n)
		switch {
		case errors.Is(err, trt.ErrPending):
			unknown("the collection's items are not known until its dependencies exist: %s", pendingLive(err))
			return
		case err != nil:
			failed(err)
			return
		}
		for _, item := range items {
			d, err := rt.RenderItem(n, item, len(items))
			if errors.Is(err, trt.ErrPending) {
				unknown("not known until its dependencies exist: %s", pendingLive(err))
				return
			} else if err != nil {
				failed(fmt.Errorf("item %d: %w", item.Index, err))
				return
			}
			desired = append(desired, d)
		}
	} else {
		d, err := rt.Render(n)
		switch {
		case errors.Is(err, trt.ErrPending):
			unknown("not known until its dependencies exist: %s", pendingLive(err))
			return
		case err != nil:
			failed(err)
			return
		}
		desired = append(desired, d)
	}
	var observed []*unstructured.Unstructured
	for _, d := range desired {
		dry, err := diffObject(ctx, c, n, d, sum, wanted, out)
		if err != nil {
			settle(trt.StateError, err.Error())
			return
		}
		observed = append(observed, dry)
	}
	if len(n.ForEach) > 0 {
		rt.ObserveList(n.ID, observed)
	} else {
		rt.Observe(n.ID, observed[0])
	}
	settle(trt.StateReady, "") // go on to dependents, as render does
}

// diffObject dry-runs the apply of one desired child and prints how the
// result differs from the live object.
func diffObject(ctx context.Context, c *Cluster, n *graph.Node, desired *unstructured.Unstructured, sum *DiffSummary, wanted map[string]bool, out io.Writer) (*unstructured.Unstructured, error) {
	ann := desired.GetAnnotations()
	ann[trt.AnnotationDesiredHash] = trt.DesiredHash(desired)
	desired.SetAnnotations(ann)
	what := fmt.Sprintf("%s %s (resources[%s])", n.GVK.Kind, joinNS(desired.GetNamespace(), desired.GetName()), n.ID)
	ri := c.Dynamic.Resource(n.GVR).Namespace(desired.GetNamespace())
	live, err := ri.Get(ctx, desired.GetName(), metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		fmt.Fprintf(out, "  ! %s: reading it: %v\n", what, errSummary(err))
		return nil, err
	}
	if apierrors.IsNotFound(err) {
		live = nil
	}
	dry, err := ri.Apply(ctx, desired.GetName(), desired, metav1.ApplyOptions{FieldManager: FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		fmt.Fprintf(out, "  ! %s: the apply would fail: %v\n", what, errSummary(err))
		return nil, err
	}
	if live == nil {
		sum.Created++
		fmt.Fprintf(out, "  + %s would be created\n", what)
		return dry, nil
	}
	wanted[string(live.GetUID())] = true
	a, _ := comparable(live)
	b, _ := comparable(dry)
	if d := unifiedDiff("live", "desired", a, b, 3); d != "" {
		sum.Changed++
		fmt.Fprintf(out, "  ~ %s would change:\n%s", what, indent(d, "      "))
	}
	return dry, nil
}

func errSummary(err error) string {
	var se *apierrors.StatusError
	if errors.As(err, &se) {
		return se.ErrStatus.Message
	}
	return err.Error()
}

// comparable renders an object without the fields every write changes.
func comparable(u *unstructured.Unstructured) (string, error) {
	obj := u.DeepCopy().Object
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		for _, k := range []string{"managedFields", "resourceVersion", "generation", "creationTimestamp", "uid"} {
			delete(md, k)
		}
		if ann, ok := md["annotations"].(map[string]any); ok {
			delete(ann, trt.AnnotationDesiredHash)
			if len(ann) == 0 {
				delete(md, "annotations")
			}
		}
	}
	return marshalObject(obj, nil, "")
}

// allOwnedChildren lists the instance's children of every kind it may have:
// the kinds of the new graph and those recorded on the instance by the
// controller (children of kinds the new graph dropped).
func allOwnedChildren(ctx context.Context, c *Cluster, g *graph.Graph, inst *unstructured.Unstructured) ([]*unstructured.Unstructured, error) {
	gvrs := map[schema.GroupVersionResource]bool{}
	for _, n := range g.Nodes {
		if n.External == nil {
			gvrs[n.GVR] = true
		}
	}
	for _, s := range strings.Split(inst.GetAnnotations()["trellis.dev/child-resources"], ",") {
		if s == "" {
			continue
		}
		parts := strings.SplitN(s, ".", 3)
		if len(parts) < 2 {
			continue
		}
		gvr := schema.GroupVersionResource{Resource: parts[0], Version: parts[1]}
		if len(parts) == 3 {
			gvr.Group = parts[2]
		}
		gvrs[gvr] = true
	}
	sel := trt.LabelInstanceID + "=" + string(inst.GetUID())
	var out []*unstructured.Unstructured
	keys := make([]schema.GroupVersionResource, 0, len(gvrs))
	for k := range gvrs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, gvr := range keys {
		list, err := c.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return nil, fmt.Errorf("listing %s: %w", gvr.Resource, err)
		}
		for i := range list.Items {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}
