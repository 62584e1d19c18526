package instance

import (
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// unseenChildren remembers the children this process created that their
// informer has not shown yet. Deletion finds an instance's children in the
// informer caches; a cache that lags (its watch broke with the API server
// and is waiting out the reflector's backoff before it relists) would hide a
// child created meanwhile, and the instance would be released with that
// child orphaned. Deletion adds these to what the caches hold. An entry
// goes as soon as any event of the child arrives, so the set only holds
// what is in flight.
type unseenChildren struct {
	mu      sync.Mutex
	byInst  map[key][]child
	byChild map[types.UID]key
}

func newUnseenChildren() *unseenChildren {
	return &unseenChildren{byInst: map[key][]child{}, byChild: map[types.UID]key{}}
}

// created records a child the cache did not hold before it was written:
// its identity, the instance it belongs to and its deletion wave.
func (u *unseenChildren) created(k key, gvr schema.GroupVersionResource, obj *unstructured.Unstructured) {
	ch := childOfObject(gvr, obj)
	if ch.uid == "" {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.byChild[ch.uid]; ok {
		return
	}
	u.byChild[ch.uid] = k
	u.byInst[k] = append(u.byInst[k], ch)
}

// seen drops a child once its informer has shown it.
func (u *unseenChildren) seen(uid types.UID) {
	u.mu.Lock()
	defer u.mu.Unlock()
	k, ok := u.byChild[uid]
	if !ok {
		return
	}
	delete(u.byChild, uid)
	list := u.byInst[k]
	for i, ch := range list {
		if ch.uid == uid {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(u.byInst, k)
	} else {
		u.byInst[k] = list
	}
}

// add appends to children the unseen children of instance inst (key k)
// that are not among them.
func (u *unseenChildren) add(k key, inst types.UID, children []child) []child {
	u.mu.Lock()
	defer u.mu.Unlock()
	have := map[types.UID]bool{}
	for _, ch := range children {
		have[ch.uid] = true
	}
	for _, ch := range u.byInst[k] {
		if !have[ch.uid] && ch.instanceID == string(inst) {
			children = append(children, ch)
		}
	}
	return children
}

// forget drops what is recorded for k.
func (u *unseenChildren) forget(k key) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, ch := range u.byInst[k] {
		delete(u.byChild, ch.uid)
	}
	delete(u.byInst, k)
}
