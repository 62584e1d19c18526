// Package runtime evaluates one instance against a compiled graph: which
// resources are included, what each should look like, whether it is ready,
// and the status to project. It is pure: the caller observes and applies.
package runtime

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/trellis-dev/trellis/pkg/cel"
	"github.com/trellis-dev/trellis/pkg/graph"
)

// State of a node within one evaluation.
type State string

const (
	// StatePending: not evaluated yet.
	StatePending State = "PENDING"
	// StateSkipped: excluded by includeWhen, or a dependency was.
	StateSkipped State = "SKIPPED"
	// StateWaiting: a dependency or the node itself is not ready yet.
	StateWaiting State = "WAITING_FOR_READINESS"
	// StateReady: observed and ready.
	StateReady State = "SYNCED"
	// StateError: evaluation or apply failed.
	StateError State = "ERROR"
)

// NodeStatus is the outcome for one node.
type NodeStatus struct {
	State State
	// Reason explains Waiting and Error states.
	Reason string
}

// ErrPending wraps evaluation errors that mean "data not there yet".
var ErrPending = errors.New("data pending")

// Instance is the evaluation of one instance during one reconcile. Methods
// are safe for concurrent use by nodes of the same wave.
type Instance struct {
	g        *graph.Graph
	obj      *unstructured.Unstructured
	labels   map[string]string
	mu       sync.RWMutex
	vars     map[string]any
	observed map[string]*unstructured.Unstructured
	lists    map[string][]*unstructured.Unstructured
	status   map[string]*NodeStatus
	observer EvalObserver
	evals    atomic.Uint32
	evalBase uint32
}

// New starts an evaluation. ownerLabels are put on every rendered object.
func New(g *graph.Graph, instance *unstructured.Unstructured, ownerLabels map[string]string) *Instance {
	self := make(map[string]any, len(instance.Object))
	for k, v := range instance.Object {
		if k != "status" {
			self[k] = v
		}
	}
	if _, ok := self["spec"]; !ok {
		self["spec"] = map[string]any{}
	}
	r := &Instance{
		g:        g,
		obj:      instance,
		labels:   ownerLabels,
		vars:     map[string]any{graph.SchemaVar: self},
		observed: map[string]*unstructured.Unstructured{},
		lists:    map[string][]*unstructured.Unstructured{},
		status:   make(map[string]*NodeStatus, len(g.Nodes)),
	}
	for _, n := range g.Nodes {
		r.status[n.ID] = &NodeStatus{State: StatePending}
	}
	return r
}

// Status returns the state of a node.
func (r *Instance) Status(id string) NodeStatus {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return *r.status[id]
}

// Observed returns what was observed of a node, if anything.
func (r *Instance) Observed(id string) *unstructured.Unstructured {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.observed[id]
}

// Set records the outcome of a node.
func (r *Instance) Set(id string, s State, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[id] = &NodeStatus{State: s, Reason: reason}
}

// Next returns the pending nodes whose dependencies are settled, in
// topological order. Nodes that depend on a skipped node are skipped here,
// and nodes that depend on a waiting or failed node are marked waiting: they
// cannot make progress in this reconcile.
func (r *Instance) Next() []*graph.Node {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*graph.Node
	for _, n := range r.g.Nodes {
		st := r.status[n.ID]
		if st.State != StatePending {
			continue
		}
		runnable := true
		for _, d := range n.Dependencies {
			switch ds := r.status[d]; ds.State {
			case StateReady:
			case StateSkipped:
				st.State, st.Reason = StateSkipped, fmt.Sprintf("dependency %q is excluded", d)
				runnable = false
			case StatePending:
				runnable = false
			default:
				if st.State == StatePending {
					st.State, st.Reason = StateWaiting, fmt.Sprintf("waiting for %q", d)
				}
				runnable = false
			}
			if st.State != StatePending {
				break
			}
		}
		if runnable && st.State == StatePending {
			out = append(out, n)
		}
	}
	return out
}

func (r *Instance) snapshot() map[string]any {
	r.mu.RLock()
	defer r.mu.RUnlock()
	vars := make(map[string]any, len(r.vars))
	for k, v := range r.vars {
		vars[k] = v
	}
	return vars
}

// Included evaluates includeWhen. A pending error means the condition cannot
// be decided yet.
func (r *Instance) Included(n *graph.Node) (bool, error) {
	if len(n.IncludeWhen) == 0 {
		return true, nil
	}
	vars := r.snapshot()
	for i, p := range n.IncludeWhen {
		v, err := r.eval(p, vars)
		if err != nil {
			return false, fmt.Errorf("includeWhen[%d]: %w", i, err)
		}
		if b, ok := v.(bool); !ok || !b {
			return false, nil
		}
	}
	return true, nil
}

// Render returns the desired object of a template node, labelled and
// namespaced, ready to apply.
func (r *Instance) Render(n *graph.Node) (*unstructured.Unstructured, error) {
	return r.renderWith(n, r.snapshot(), nil)
}

// Item is one element of a collection: its iterator values and position.
type Item struct {
	Bindings map[string]any
	Index    int
}

// Expand evaluates the forEach dimensions of a collection node into the
// cartesian product of their items, first dimension outermost.
func (r *Instance) Expand(n *graph.Node) ([]Item, error) {
	vars := r.snapshot()
	combos := []map[string]any{{}}
	for _, d := range n.ForEach {
		v, err := r.eval(d.Program, vars)
		if err != nil {
			return nil, fmt.Errorf("forEach %s: %w", d.Name, err)
		}
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("forEach %s: expression returned %T, not a list", d.Name, v)
		}
		next := make([]map[string]any, 0, len(combos)*len(list))
		for _, c := range combos {
			for _, item := range list {
				m := make(map[string]any, len(c)+1)
				for k, v := range c {
					m[k] = v
				}
				m[d.Name] = item
				next = append(next, m)
			}
		}
		if len(next) > graph.MaxCollectionSize {
			return nil, fmt.Errorf("collection has %d items, more than the limit of %d", len(next), graph.MaxCollectionSize)
		}
		combos = next
	}
	items := make([]Item, len(combos))
	for i, c := range combos {
		items[i] = Item{Bindings: c, Index: i}
	}
	return items, nil
}

// RenderItem renders one item of a collection.
func (r *Instance) RenderItem(n *graph.Node, item Item, size int) (*unstructured.Unstructured, error) {
	vars := r.snapshot()
	for k, v := range item.Bindings {
		vars[k] = v
	}
	return r.renderWith(n, vars, map[string]string{
		LabelCollectionIndex: strconv.Itoa(item.Index),
		LabelCollectionSize:  strconv.Itoa(size),
	})
}

func (r *Instance) renderWith(n *graph.Node, vars map[string]any, extraLabels map[string]string) (*unstructured.Unstructured, error) {
	out, err := r.render(n, n.Template, vars)
	if err != nil {
		return nil, err
	}
	obj := &unstructured.Unstructured{Object: out.(map[string]any)}
	if n.Namespaced && obj.GetNamespace() == "" {
		obj.SetNamespace(r.obj.GetNamespace())
	}
	if obj.GetName() == "" {
		return nil, fmt.Errorf("metadata.name is empty")
	}
	r.stamp(n, obj, extraLabels)
	return obj, nil
}

// stamp puts the ownership labels and the deletion wave on a rendered child.
func (r *Instance) stamp(n *graph.Node, obj *unstructured.Unstructured, extraLabels map[string]string) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range r.labels {
		labels[k] = v
	}
	labels[LabelNodeID] = n.ID
	for k, v := range extraLabels {
		labels[k] = v
	}
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[AnnotationApplyOrder] = strconv.Itoa(n.ApplyOrder)
	obj.SetAnnotations(ann)
}

func (r *Instance) render(n *graph.Node, v any, vars map[string]any) (any, error) {
	switch val := v.(type) {
	case string:
		f, ok := n.Fields[val]
		if !ok {
			return val, nil
		}
		return r.evalField(f, vars)
	case map[string]any:
		out := make(map[string]any, len(val))
		for k, child := range val {
			c, err := r.render(n, child, vars)
			if err != nil {
				return nil, err
			}
			if c == cel.Omit {
				continue
			}
			out[k] = c
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(val))
		for _, child := range val {
			c, err := r.render(n, child, vars)
			if err != nil {
				return nil, err
			}
			if c == cel.Omit {
				continue
			}
			out = append(out, c)
		}
		return out, nil
	default:
		return v, nil
	}
}

// ExternalSelector resolves the label selector of an externalRef, with
// expressions in its values evaluated.
func (r *Instance) ExternalSelector(n *graph.Node) (labels.Selector, error) {
	sel := n.External.Selector.DeepCopy()
	if len(n.External.SelectorFields) > 0 {
		vars := r.snapshot()
		resolve := func(v string) (string, error) {
			f, ok := n.External.SelectorFields[v]
			if !ok {
				return v, nil
			}
			out, err := r.evalField(f, vars)
			if err != nil {
				return "", fmt.Errorf("externalRef.metadata.selector: %w", err)
			}
			return fmt.Sprint(out), nil
		}
		for k, v := range sel.MatchLabels {
			out, err := resolve(v)
			if err != nil {
				return nil, err
			}
			sel.MatchLabels[k] = out
		}
		for i := range sel.MatchExpressions {
			for j, v := range sel.MatchExpressions[i].Values {
				out, err := resolve(v)
				if err != nil {
					return nil, err
				}
				sel.MatchExpressions[i].Values[j] = out
			}
		}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("externalRef.metadata.selector: %w", err)
	}
	return s, nil
}

// ExternalName resolves the name and namespace an externalRef points at.
func (r *Instance) ExternalName(n *graph.Node) (namespace, name string, err error) {
	vars := r.snapshot()
	if n.External.Name != nil {
		v, err := r.evalField(n.External.Name, vars)
		if err != nil {
			return "", "", fmt.Errorf("externalRef.metadata.name: %w", err)
		}
		name = fmt.Sprint(v)
	}
	if n.External.Namespace != nil {
		v, err := r.evalField(n.External.Namespace, vars)
		if err != nil {
			return "", "", fmt.Errorf("externalRef.metadata.namespace: %w", err)
		}
		namespace = fmt.Sprint(v)
	}
	if n.Namespaced && namespace == "" {
		namespace = r.obj.GetNamespace()
	}
	return namespace, name, nil
}

// Observe records the object as it is on the server (typically the apply
// response) so dependents and readiness can read it.
func (r *Instance) Observe(id string, obj *unstructured.Unstructured) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.observed[id] = obj
	if obj == nil {
		delete(r.vars, id)
		return
	}
	r.vars[id] = obj.Object
}

// ObserveList records the objects of a collection or of a selector
// externalRef; other expressions see them as a list.
func (r *Instance) ObserveList(id string, objs []*unstructured.Unstructured) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lists[id] = objs
	items := make([]any, len(objs))
	for i, o := range objs {
		items[i] = o.Object
	}
	r.vars[id] = items
}

// ObservedList returns what was observed of a collection.
func (r *Instance) ObservedList(id string) []*unstructured.Unstructured {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lists[id]
}

// ReadyList judges a collection: every item must pass readyWhen (through
// `each`); without readyWhen, all desired items must exist.
func (r *Instance) ReadyList(n *graph.Node, desired int) (bool, string, error) {
	objs := r.ObservedList(n.ID)
	if len(objs) < desired {
		return false, fmt.Sprintf("%d of %d items exist", len(objs), desired), nil
	}
	for _, o := range objs {
		vars := map[string]any{graph.EachVar: o.Object}
		for i, p := range n.ReadyWhen {
			v, err := r.eval(p, vars)
			if errors.Is(err, ErrPending) {
				return false, fmt.Sprintf("item %s: readyWhen[%d]: %v", o.GetName(), i, err), nil
			}
			if err != nil {
				return false, "", fmt.Errorf("item %s: readyWhen[%d]: %w", o.GetName(), i, err)
			}
			if b, ok := v.(bool); !ok || !b {
				return false, fmt.Sprintf("item %s: readyWhen[%d] %s is false", o.GetName(), i, p.Expr), nil
			}
		}
	}
	return true, "", nil
}

// Ready evaluates readyWhen against the observed object; without readyWhen
// a node is ready once it exists.
func (r *Instance) Ready(n *graph.Node) (bool, string, error) {
	r.mu.RLock()
	obj := r.observed[n.ID]
	r.mu.RUnlock()
	if obj == nil {
		return false, "not observed yet", nil
	}
	vars := map[string]any{n.ID: obj.Object}
	for i, p := range n.ReadyWhen {
		v, err := r.eval(p, vars)
		if errors.Is(err, ErrPending) {
			return false, fmt.Sprintf("readyWhen[%d] %s: %v", i, p.Expr, err), nil
		}
		if err != nil {
			return false, "", fmt.Errorf("readyWhen[%d]: %w", i, err)
		}
		if b, ok := v.(bool); !ok || !b {
			return false, fmt.Sprintf("readyWhen[%d] %s is false", i, p.Expr), nil
		}
	}
	return true, "", nil
}

// ProjectStatus evaluates the status projection. Fields whose data is not
// there yet are left out; real errors are returned joined, with what could
// be projected.
func (r *Instance) ProjectStatus() (map[string]any, error) {
	if r.g.Status == nil {
		return map[string]any{}, nil
	}
	vars := r.snapshot()
	var errs []error
	out, _ := r.projectStatus(r.g.Status, vars, "status", &errs).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	return out, errors.Join(errs...)
}

func (r *Instance) projectStatus(sf *graph.StatusField, vars map[string]any, path string, errs *[]error) any {
	if sf.Leaf != nil {
		for _, d := range sf.Dependencies {
			if _, ok := vars[d]; !ok {
				return nil
			}
		}
		v, err := r.evalField(sf.Leaf, vars)
		if err != nil {
			if !errors.Is(err, ErrPending) {
				*errs = append(*errs, fmt.Errorf("%s: %w", path, err))
			}
			return nil
		}
		if v == cel.Omit {
			return nil
		}
		return v
	}
	out := map[string]any{}
	keys := make([]string, 0, len(sf.Children))
	for k := range sf.Children {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := r.projectStatus(sf.Children[k], vars, path+"."+k, errs); v != nil {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Conditions evaluates the author's custom conditions. builtin are the
// conditions trellis computed, readable through runtime.condition(schema,
// 'Type'). Failing expressions are reported; the others are kept.
func (r *Instance) Conditions(builtin []any) ([]map[string]any, error) {
	if len(r.g.Conditions) == 0 {
		return nil, nil
	}
	vars := r.snapshot()
	self := make(map[string]any, 5)
	for k, v := range vars[graph.SchemaVar].(map[string]any) {
		self[k] = v
	}
	self["status"] = map[string]any{"conditions": builtin}
	vars[graph.SchemaVar] = self
	var out []map[string]any
	var errs []error
	seen := map[string]bool{}
	add := func(i int, v any) {
		m, ok := v.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("status.conditions[%d]: returned %T, not a condition", i, v))
			return
		}
		t, _ := m["type"].(string)
		if seen[t] {
			errs = append(errs, fmt.Errorf("status.conditions[%d]: duplicate condition type %q", i, t))
			return
		}
		seen[t] = true
		out = append(out, m)
	}
	for i, p := range r.g.Conditions {
		v, err := r.eval(p, vars)
		if err != nil {
			errs = append(errs, fmt.Errorf("status.conditions[%d]: %w", i, err))
			continue
		}
		if list, ok := v.([]any); ok {
			for _, item := range list {
				add(i, item)
			}
			continue
		}
		add(i, v)
	}
	return out, errors.Join(errs...)
}
