package instance

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// externalRef is what an instance reads but does not own: one object by
// name, or the objects matching a selector (in one namespace or all).
type externalRef struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
	selector  labels.Selector
}

func (r externalRef) matches(u metav1.Object) bool {
	if r.namespace != "" && u.GetNamespace() != r.namespace {
		return false
	}
	if r.selector != nil {
		return r.selector.Matches(labels.Set(u.GetLabels()))
	}
	return u.GetName() == r.name
}

// watchExternal records that instance k reads ref, so events of matching
// objects re-enqueue it.
func (c *Controller) watchExternal(k key, ref externalRef) {
	c.extMu.Lock()
	defer c.extMu.Unlock()
	byKey := c.extWatchers[ref.gvr]
	if byKey == nil {
		byKey = map[key][]externalRef{}
		c.extWatchers[ref.gvr] = byKey
	}
	for _, r := range byKey[k] {
		if r.namespace == ref.namespace && r.name == ref.name && selectorString(r.selector) == selectorString(ref.selector) {
			return
		}
	}
	byKey[k] = append(byKey[k], ref)
}

// forgetExternals drops every watch of instance k.
func (c *Controller) forgetExternals(k key) {
	c.extMu.Lock()
	defer c.extMu.Unlock()
	for _, byKey := range c.extWatchers {
		delete(byKey, k)
	}
}

func selectorString(s labels.Selector) string {
	if s == nil {
		return ""
	}
	return s.String()
}

// onExternalEvent re-enqueues the instances that read the object.
func (c *Controller) onExternalEvent(gvr schema.GroupVersionResource, obj, old any, _ bool) {
	u := metaOf(obj)
	if u == nil {
		return
	}
	o := metaOf(old)
	if o != nil && o.GetResourceVersion() == u.GetResourceVersion() {
		return
	}
	c.extMu.Lock()
	var keys []key
	for k, refs := range c.extWatchers[gvr] {
		for _, r := range refs {
			if r.matches(u) || (o != nil && r.matches(o)) {
				keys = append(keys, k)
				break
			}
		}
	}
	c.extMu.Unlock()
	for _, k := range keys {
		c.queue.Add(k)
	}
}
