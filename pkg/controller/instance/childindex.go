package instance

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// childIndex lists the children of every instance across all child kinds,
// kept from the child informers' events. It replaces a per-informer index,
// which holds one set per instance and kind: at thousands of instances
// those sets were a tenth of the controller's heap.
type childIndex struct {
	mu   sync.RWMutex
	gvrs []schema.GroupVersionResource
	ids  map[schema.GroupVersionResource]uint16
	refs map[types.UID][]childKey
}

type childKey struct {
	gvr uint16 // into gvrs
	key string // namespace/name in the informer's store
}

// childRef names one child: its resource and its store key.
type childRef struct {
	gvr schema.GroupVersionResource
	key string
}

func newChildIndex() *childIndex {
	return &childIndex{ids: map[schema.GroupVersionResource]uint16{}, refs: map[types.UID][]childKey{}}
}

// update records an informer event of a child.
func (x *childIndex) update(gvr schema.GroupVersionResource, obj, old any, deleted bool) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	id := types.UID(instanceID(obj))
	x.mu.Lock()
	defer x.mu.Unlock()
	g, ok := x.ids[gvr]
	if !ok {
		g = uint16(len(x.gvrs))
		x.gvrs = append(x.gvrs, gvr)
		x.ids[gvr] = g
	}
	ck := childKey{gvr: g, key: key}
	if old != nil {
		if prev := types.UID(instanceID(old)); prev != id {
			x.remove(prev, ck)
		}
	}
	if deleted {
		x.remove(id, ck)
		return
	}
	if id == "" {
		return
	}
	for _, k := range x.refs[id] {
		if k == ck {
			return
		}
	}
	x.refs[id] = append(x.refs[id], ck)
}

func (x *childIndex) remove(id types.UID, ck childKey) {
	list := x.refs[id]
	for i, k := range list {
		if k == ck {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(x.refs, id)
		return
	}
	x.refs[id] = list
}

// children returns the children recorded for an instance.
func (x *childIndex) children(id types.UID) []childRef {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]childRef, 0, len(x.refs[id]))
	for _, k := range x.refs[id] {
		out = append(out, childRef{gvr: x.gvrs[k.gvr], key: k.key})
	}
	return out
}

// keySet is a set of instance keys safe for concurrent use.
type keySet struct {
	mu sync.Mutex
	m  map[key]struct{}
}

func (s *keySet) add(k key) {
	s.mu.Lock()
	s.m[k] = struct{}{}
	s.mu.Unlock()
}

func (s *keySet) remove(k key) {
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

func (s *keySet) has(k key) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[k]
	return ok
}
