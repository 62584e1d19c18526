package instance

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// informer is one running shared informer and what stops it.
type informer struct {
	cache.SharedIndexInformer
	cancel context.CancelFunc
}

// informerSet starts at most one informer per GVR, lazily.
type informerSet struct {
	client   rest.Interface
	selector string // label selector; "" watches everything
	// decode says what the cached objects keep (see decodeOptions).
	decode  decodeOptions
	onEvent func(gvr schema.GroupVersionResource, obj, old any, deleted bool)
	// indexers of every informer (each costs memory per object).
	indexers cache.Indexers

	mu    sync.Mutex
	ctx   context.Context
	items map[schema.GroupVersionResource]*informer
}

func newInformerSet(client rest.Interface, selector string, onEvent func(gvr schema.GroupVersionResource, obj, old any, deleted bool)) *informerSet {
	return &informerSet{client: client, selector: selector, onEvent: onEvent, indexers: cache.Indexers{},
		items: map[schema.GroupVersionResource]*informer{}}
}

// start sets the context informers run in; informers requested before are
// started now.
func (s *informerSet) start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ctx = ctx
	for _, inf := range s.items {
		s.run(inf)
	}
}

func (s *informerSet) run(inf *informer) {
	ctx, cancel := context.WithCancel(s.ctx)
	inf.cancel = cancel
	go inf.Run(ctx.Done())
}

// get returns the informer of gvr, starting it if needed.
func (s *informerSet) get(gvr schema.GroupVersionResource) *informer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inf, ok := s.items[gvr]; ok {
		return inf
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = s.selector
			return listRaw(ctx, s.client, gvr, o, s.decode)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = s.selector
			return watchRaw(ctx, s.client, gvr, o, s.decode)
		},
	}
	si := cache.NewSharedIndexInformer(lw, &compact{}, 10*time.Hour, s.indexers)
	_, _ = si.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.onEvent(gvr, obj, nil, false) },
		UpdateFunc: func(old, obj any) { s.onEvent(gvr, obj, old, false) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			s.onEvent(gvr, obj, nil, true)
		},
	})
	inf := &informer{SharedIndexInformer: si}
	s.items[gvr] = inf
	if s.ctx != nil {
		s.run(inf)
	}
	return inf
}

// stop stops and forgets the informer of gvr.
func (s *informerSet) stop(gvr schema.GroupVersionResource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inf, ok := s.items[gvr]; ok {
		if inf.cancel != nil {
			inf.cancel()
		}
		delete(s.items, gvr)
	}
}

// waitSynced waits until the informer of gvr has listed once.
func (s *informerSet) waitSynced(ctx context.Context, gvr schema.GroupVersionResource) bool {
	inf := s.get(gvr)
	return cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)
}

// compact is how informers keep objects: typed metadata for keys, indexes
// and event routing, and the object as JSON, decoded only when a reconcile
// reads it. An unstructured map costs several times its JSON, and the
// caches hold every child of every instance.
type compact struct {
	metav1.TypeMeta
	slimMeta
	raw []byte
	// instanceID is the kro.run/instance-id label of a child (whose typed
	// labels are dropped, see trim).
	instanceID string
	// updateOwned: trellis owns fields of this child through an Update
	// entry (it created the child with POST), see Controller.takeOver.
	updateOwned bool
}

// DeepCopyObject: compact objects are never modified, so sharing is safe.
func (c *compact) DeepCopyObject() runtime.Object { return c }

// object decodes a copy the caller owns.
func (c *compact) object() *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	_ = u.UnmarshalJSON(c.raw)
	return u
}

// instanceID is the kro.run/instance-id label of a child in the cache.
func instanceID(obj any) string {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if c, ok := obj.(*compact); ok {
		return c.instanceID
	}
	return ""
}

// trim drops the metadata nothing reads from the typed part (it stays in
// the JSON): children keep only the label that routes them, as a string
// (a one-entry map per child costs ~200 bytes).
func (c *compact) trim(o decodeOptions) {
	if !o.routingOnly {
		return
	}
	if v, ok := c.Annotations[metav1.InitialEventsAnnotationKey]; ok {
		c.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: v} // the reflector reads it on bookmarks
	} else {
		c.Annotations = nil
	}
	c.instanceID, c.Labels = c.Labels[trt.LabelInstanceID], nil
}

// decode returns the full object of an informer item (a copy).
func decode(obj any) *unstructured.Unstructured {
	switch o := obj.(type) {
	case *compact:
		return o.object()
	case cache.DeletedFinalStateUnknown:
		return decode(o.Obj)
	}
	return nil
}

// metaOf returns the metadata of an informer item.
func metaOf(obj any) metav1.Object {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	return m
}
