package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"
)

var (
	configMaps      = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets         = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	serviceAccounts = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	services        = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	childGVRs       = []schema.GroupVersionResource{configMaps, secrets, serviceAccounts, services}
)

// childrenPerInstance is what one BenchApp expands to.
const childrenPerInstance = 5

// childNames are the children of instance name, by resource, as the
// benchmark RGD names them.
func childNames(name string) map[string][]string {
	return map[string][]string{
		"configmaps":      {name + "-config", name + "-endpoints"},
		"secrets":         {name + "-secret"},
		"serviceaccounts": {name},
		"services":        {name},
	}
}

// tracker watches one namespace (instances and children) and answers "are
// all N ACTIVE / present / gone / relabelled" from the watch, never by
// polling objects one by one.
type tracker struct {
	factory dynamicinformer.DynamicSharedInformerFactory
	cancel  context.CancelFunc

	mu       sync.Mutex
	changed  chan struct{}
	last     time.Time                  // time of the latest event
	expected map[string]map[string]bool // resource -> expected child names
	present  map[string]map[string]bool // resource -> present expected children
	children int                        // present expected children
	inst     map[string]bool            // present instances
	active   map[string]bool            // instances ACTIVE with a clusterIP
	label    string                     // label key[=value] the RGD change adds
	labelled map[string]bool            // config maps carrying label
	// activeField is the status field an ACTIVE instance must have set
	// (clusterIP for BenchApps).
	activeField string
}

// newTracker starts informers on instGVR and the child resources in ns.
// names are the instances the run will create.
func newTracker(ctx context.Context, dyn dynamic.Interface, ns string, instGVR schema.GroupVersionResource, names []string, label string) (*tracker, error) {
	return startTracker(ctx, dyn, ns, instGVR, names, label, "clusterIP")
}

// newGraphTracker tracks the instances of a big graph: ACTIVE with
// status.<activeField> set (its children are not tracked by name).
func newGraphTracker(ctx context.Context, dyn dynamic.Interface, ns string, instGVR schema.GroupVersionResource, activeField string) (*tracker, error) {
	return startTracker(ctx, dyn, ns, instGVR, nil, "", activeField)
}

func startTracker(ctx context.Context, dyn dynamic.Interface, ns string, instGVR schema.GroupVersionResource, names []string, label, activeField string) (*tracker, error) {
	t := &tracker{
		activeField: activeField,
		changed:     make(chan struct{}),
		expected:    map[string]map[string]bool{},
		present:     map[string]map[string]bool{},
		inst:        map[string]bool{},
		active:      map[string]bool{},
		label:       label,
		labelled:    map[string]bool{},
	}
	for _, gvr := range childGVRs {
		t.expected[gvr.Resource] = map[string]bool{}
		t.present[gvr.Resource] = map[string]bool{}
	}
	for _, n := range names {
		for res, cs := range childNames(n) {
			for _, c := range cs {
				t.expected[res][c] = true
			}
		}
	}
	ctx, t.cancel = context.WithCancel(ctx)
	t.factory = dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, ns, nil)
	add := func(gvr schema.GroupVersionResource, on func(u *unstructured.Unstructured, deleted bool)) {
		inf := t.factory.ForResource(gvr).Informer()
		_ = inf.SetTransform(func(obj any) (any, error) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				u.SetManagedFields(nil)
			}
			return obj, nil
		})
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { t.event(obj, false, on) },
			UpdateFunc: func(_, obj any) { t.event(obj, false, on) },
			DeleteFunc: func(obj any) {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				t.event(obj, true, on)
			},
		})
	}
	add(instGVR, t.onInstance)
	for _, gvr := range childGVRs {
		add(gvr, t.onChild(gvr.Resource))
	}
	t.factory.Start(ctx.Done())
	for gvr, ok := range t.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.stop()
			return nil, fmt.Errorf("watch of %s did not sync", gvr.Resource)
		}
	}
	return t, nil
}

func (t *tracker) stop() {
	t.cancel()
	t.factory.Shutdown()
}

func (t *tracker) event(obj any, deleted bool, on func(*unstructured.Unstructured, bool)) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	t.mu.Lock()
	on(u, deleted)
	t.last = time.Now()
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

func (t *tracker) onInstance(u *unstructured.Unstructured, deleted bool) {
	name := u.GetName()
	if deleted {
		delete(t.inst, name)
		delete(t.active, name)
		return
	}
	t.inst[name] = true
	state, _, _ := unstructured.NestedString(u.Object, "status", "state")
	set, _, _ := unstructured.NestedFieldNoCopy(u.Object, "status", t.activeField)
	if state == "ACTIVE" && set != nil && set != "" {
		t.active[name] = true
	} else {
		delete(t.active, name)
	}
}

func (t *tracker) onChild(resource string) func(*unstructured.Unstructured, bool) {
	return func(u *unstructured.Unstructured, deleted bool) {
		name := u.GetName()
		if !t.expected[resource][name] {
			return
		}
		was := t.present[resource][name]
		if deleted {
			if was {
				delete(t.present[resource], name)
				t.children--
			}
			delete(t.labelled, name)
			return
		}
		if !was {
			t.present[resource][name] = true
			t.children++
		}
		if resource == "configmaps" && t.label != "" {
			if hasLabel(u.GetLabels(), t.label) {
				t.labelled[name] = true
			} else {
				delete(t.labelled, name)
			}
		}
	}
}

func hasLabel(labels map[string]string, want string) bool {
	for k, v := range labels {
		if k+"="+v == want || k == want {
			return true
		}
	}
	return false
}

// expectLabel makes Labelled count the configs carrying label from now on
// (the ones already carrying it count again at their next event).
func (t *tracker) expectLabel(label string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.label = label
	t.labelled = map[string]bool{}
}

// counts is a snapshot of the tracker's state.
type counts struct {
	Instances, Active, Children, Labelled int
}

func (t *tracker) counts() counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.countsLocked()
}

func (t *tracker) countsLocked() counts {
	return counts{Instances: len(t.inst), Active: len(t.active), Children: t.children, Labelled: len(t.labelled)}
}

// wait blocks until cond holds and returns the time of the event that made
// it hold (or now, if it already held). Progress is logged every 10 s.
func (t *tracker) wait(ctx context.Context, what string, logf func(string, ...any), cond func(counts) bool) (time.Time, error) {
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		t.mu.Lock()
		c := t.countsLocked()
		if cond(c) {
			at := t.last
			t.mu.Unlock()
			if at.IsZero() {
				at = time.Now()
			}
			return at, nil
		}
		ch := t.changed
		t.mu.Unlock()
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("waiting for %s: %w (instances %d, active %d, children %d, labelled %d)", what, ctx.Err(), c.Instances, c.Active, c.Children, c.Labelled)
		case <-tick.C:
			logf("  … waiting for %s: instances %d, active %d, children %d, labelled %d", what, c.Instances, c.Active, c.Children, c.Labelled)
		case <-ch:
		}
	}
}
