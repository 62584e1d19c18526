package instance

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
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
	// prev is the informer this one replaces while it lists (see reshard):
	// objects it already held are not announced again.
	prev atomic.Pointer[informer]
}

// informerSet starts at most one informer per GVR, lazily.
type informerSet struct {
	client   rest.Interface
	selector string // label selector; "" watches everything
	// decode says what the cached objects keep (see decodeOptions).
	decode  decodeOptions
	onEvent func(gvr schema.GroupVersionResource, obj, old any, deleted bool)
	// onInitialAdd, if set, takes the adds of an informer's initial list
	// instead of onEvent.
	onInitialAdd func(gvr schema.GroupVersionResource, obj any)
	// indexers of every informer (each costs memory per object).
	indexers cache.Indexers
	// keep, if set, drops objects before they reach the cache (a replica's
	// share, see shard.go); shardSelector, if set, asks the API server for
	// only that share.
	keep          func(*compact) bool
	shardSelector func() string

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
	inf := s.newInformer(gvr)
	s.items[gvr] = inf
	if s.ctx != nil {
		s.run(inf)
	}
	return inf
}

func (s *informerSet) newInformer(gvr schema.GroupVersionResource) *informer {
	opts := func(o *metav1.ListOptions) {
		o.LabelSelector = s.selector
		if s.shardSelector != nil {
			o.ShardSelector = s.shardSelector()
		}
	}
	d := s.decode
	d.keep = s.keep
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			opts(&o)
			return listRaw(ctx, s.client, gvr, o, d)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			opts(&o)
			return watchRaw(ctx, s.client, gvr, o, d)
		},
	}
	si := cache.NewSharedIndexInformer(lw, &compact{}, 10*time.Hour, s.indexers)
	inf := &informer{SharedIndexInformer: si}
	_, _ = si.AddEventHandler(cache.ResourceEventHandlerDetailedFuncs{
		AddFunc: func(obj any, initial bool) {
			if p := inf.prev.Load(); p != nil {
				if old, ok, _ := p.GetStore().Get(obj); ok {
					if o, n := metaOf(old), metaOf(obj); o != nil && n != nil && o.GetResourceVersion() == n.GetResourceVersion() {
						return // held before the reshard, unchanged
					}
					s.onEvent(gvr, obj, old, false)
					return
				}
			}
			if initial && s.onInitialAdd != nil {
				s.onInitialAdd(gvr, obj)
				return
			}
			s.onEvent(gvr, obj, nil, false)
		},
		UpdateFunc: func(old, obj any) { s.onEvent(gvr, obj, old, false) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			s.onEvent(gvr, obj, nil, true)
		},
	})
	return inf
}

// reshard replaces every informer by one listing with the current keep and
// shardSelector. Each new informer takes over once it has listed: readers
// never see a half-filled cache. Objects the old one held and the new one
// does not are announced as deleted.
func (s *informerSet) reshard(ctx context.Context) error {
	s.mu.Lock()
	gvrs := make([]schema.GroupVersionResource, 0, len(s.items))
	for gvr := range s.items {
		gvrs = append(gvrs, gvr)
	}
	s.mu.Unlock()
	for _, gvr := range gvrs {
		if err := s.replace(ctx, gvr); err != nil {
			return err
		}
	}
	return nil
}

func (s *informerSet) replace(ctx context.Context, gvr schema.GroupVersionResource) error {
	s.mu.Lock()
	old := s.items[gvr]
	if old == nil || s.ctx == nil {
		s.mu.Unlock()
		return nil // not running: it lists with the current filter when it starts
	}
	next := s.newInformer(gvr)
	next.prev.Store(old)
	s.run(next)
	s.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), next.HasSynced) {
		next.cancel()
		return fmt.Errorf("listing %s: %w", gvr.Resource, ctx.Err())
	}
	s.mu.Lock()
	if s.items[gvr] != old { // stopped or replaced meanwhile
		s.mu.Unlock()
		next.cancel()
		return nil
	}
	s.items[gvr] = next
	s.mu.Unlock()
	old.cancel()
	for _, obj := range old.GetStore().List() {
		if _, ok, _ := next.GetStore().Get(obj); !ok {
			s.onEvent(gvr, obj, nil, true)
		}
	}
	next.prev.Store(nil)
	return nil
}

// each calls f with every cached object of every informer.
func (s *informerSet) each(f func(gvr schema.GroupVersionResource, obj any)) {
	s.mu.Lock()
	items := make(map[schema.GroupVersionResource]*informer, len(s.items))
	for gvr, inf := range s.items {
		items[gvr] = inf
	}
	s.mu.Unlock()
	for gvr, inf := range items {
		for _, obj := range inf.GetStore().List() {
			f(gvr, obj)
		}
	}
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
	// updateOwned: trellis inherits fields of this child, owned by its
	// Update entry (it created the child with POST) or by kro's Apply entry
	// (kro created it), see Controller.takeOver.
	updateOwned bool
	// applyOrder is a child's deletion wave, from its apply-order
	// annotation (dropped with the others, see trim).
	applyOrder int32
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
	c.applyOrder = applyOrder(c.Annotations)
	if v, ok := c.Annotations[metav1.InitialEventsAnnotationKey]; ok {
		c.Annotations = map[string]string{metav1.InitialEventsAnnotationKey: v} // the reflector reads it on bookmarks
	} else {
		c.Annotations = nil
	}
	c.instanceID, c.Labels = c.Labels[trt.LabelInstanceID], nil
}

// applyOrder reads a child's deletion wave from its annotations; a missing
// or unreadable one is 0, the last wave.
func applyOrder(annotations map[string]string) int32 {
	order, err := strconv.ParseInt(annotations[trt.AnnotationApplyOrder], 10, 32)
	if err != nil {
		return 0
	}
	return int32(order)
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
