// Package instance reconciles instances of every RGD-generated kind with one
// dynamic controller: a shared queue, parallel workers, informers on the
// instance kinds and on the children (selected by trellis's labels).
package instance

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/trellis-dev/trellis/api/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/graph"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// Options tune the instance controller.
type Options struct {
	Workers int
	// FieldManager names trellis in server-side apply.
	FieldManager string
	// Version is written to the kro.run/kro-version label.
	Version string
	// ChildLabels selects the labels children carry (default lean).
	ChildLabels trt.ChildLabelSet
}

// key identifies one instance.
type key struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
}

// registration is the graph serving one instance kind.
type registration struct {
	graph    *graph.Graph
	revision int64
	rgdName  string
	rgdUID   string
	// orphaned: the RGD is gone; only deletions are served (graph may be nil).
	orphaned bool
}

// Controller is the dynamic instance controller. It implements
// manager.Runnable and is fed graphs by the RGD controller.
type Controller struct {
	dyn  dynamic.Interface
	opts Options
	log  logr.Logger

	queue     workqueue.TypedRateLimitingInterface[key]
	instances *informerSet
	children  *informerSet
	externals *informerSet

	// owners maps an instance's UID to its key: children name their
	// instance by UID (label kro.run/instance-id).
	// (A plain map: sync.Map boxes every key and value.)
	ownersMu sync.RWMutex
	owners   map[types.UID]key

	// owned lists each instance's children (see childIndex).
	owned *childIndex

	// echoes recognises the watch events our own applies cause.
	echoes *echoes

	extMu       sync.Mutex
	extWatchers map[schema.GroupVersionResource]map[key][]externalRef

	mu   sync.RWMutex
	regs map[schema.GroupVersionResource]*registration
}

// New returns a controller; call Start (via the manager) to run it. dyn
// writes; raw (a JSON REST client, see NewRawClient) feeds the informers.
func New(dyn dynamic.Interface, raw rest.Interface, log logr.Logger, opts Options) *Controller {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	c := &Controller{
		dyn:  dyn,
		opts: opts,
		log:  log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[key](200*time.Millisecond, 5*time.Minute),
			workqueue.TypedRateLimitingQueueConfig[key]{Name: "instances"}),
		echoes: newEchoes(),
		owned:  newChildIndex(),
		owners: map[types.UID]key{},
		regs:   map[schema.GroupVersionResource]*registration{},
	}
	c.instances = newInformerSet(raw, "", c.onInstanceEvent)
	c.children = newInformerSet(raw, trt.LabelOwned+"=true", c.onChildEvent)
	c.children.decode = decodeOptions{routingOnly: true, fieldManager: opts.FieldManager}
	c.externals = newInformerSet(raw, "", c.onExternalEvent)
	c.externals.indexers = cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc} // selector lookups
	c.extWatchers = map[schema.GroupVersionResource]map[key][]externalRef{}
	return c
}

// Start runs the workers until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	c.instances.start(ctx)
	c.children.start(ctx)
	c.externals.start(ctx)
	var wg sync.WaitGroup
	for i := 0; i < c.opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

// NeedLeaderElection: only the leader reconciles instances.
func (c *Controller) NeedLeaderElection() bool { return true }

// Register serves the instances of g's kind with g. Registering a graph
// that differs from the current one re-enqueues every instance.
func (c *Controller) Register(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph, revision int64) error {
	gvr := g.Instance.GVR()
	c.mu.Lock()
	prev := c.regs[gvr]
	c.regs[gvr] = &registration{graph: g, revision: revision, rgdName: rgd.Name, rgdUID: string(rgd.UID)}
	c.mu.Unlock()

	// Children informers first, so the first reconcile sees them.
	for _, n := range g.Nodes {
		if n.External == nil {
			c.children.get(n.GVR)
		}
	}
	inf := c.instances.get(gvr)
	if prev != nil && (prev.graph == nil || prev.graph.Hash != g.Hash || prev.revision != revision) {
		for _, obj := range inf.GetStore().List() {
			c.enqueueObject(gvr, obj)
		}
	}
	return nil
}

// Unregister stops serving a kind entirely.
func (c *Controller) Unregister(gvr schema.GroupVersionResource) {
	c.mu.Lock()
	delete(c.regs, gvr)
	c.mu.Unlock()
	c.instances.stop(gvr) // emits no delete events: forget its instances here
	c.ownersMu.Lock()
	for uid, k := range c.owners {
		if k.gvr == gvr {
			delete(c.owners, uid)
		}
	}
	c.ownersMu.Unlock()
}

// ServeOrphans keeps serving the instances of a kind whose RGD is gone, for
// one purpose: when they are deleted, their children are deleted and their
// finalizers released. They are not reconciled otherwise.
func (c *Controller) ServeOrphans(gvr schema.GroupVersionResource) {
	c.mu.Lock()
	reg := &registration{orphaned: true}
	if prev := c.regs[gvr]; prev != nil {
		reg.graph = prev.graph // its kinds help find children
	}
	c.regs[gvr] = reg
	c.mu.Unlock()
	inf := c.instances.get(gvr)
	for _, obj := range inf.GetStore().List() {
		c.enqueueObject(gvr, obj)
	}
}

// Revision returns the graph revision serving an RGD's instances (0: none).
func (c *Controller) Revision(rgdName string) int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, reg := range c.regs {
		if reg.rgdName == rgdName && !reg.orphaned {
			return reg.revision
		}
	}
	return 0
}

// Registered reports whether a kind is being served.
func (c *Controller) Registered(gvr schema.GroupVersionResource) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.regs[gvr]
	return ok
}

func (c *Controller) registration(gvr schema.GroupVersionResource) *registration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.regs[gvr]
}

// onInstanceEvent enqueues on create, delete, spec (generation) changes,
// deletion start and suspension flips; status-only writes (ours) are ignored.
func (c *Controller) onInstanceEvent(gvr schema.GroupVersionResource, obj, old any, deleted bool) {
	u := metaOf(obj)
	if u == nil {
		return
	}
	if deleted {
		c.ownersMu.Lock()
		delete(c.owners, u.GetUID())
		c.ownersMu.Unlock()
	} else if old == nil {
		c.ownersMu.Lock()
		c.owners[u.GetUID()] = key{gvr: gvr, namespace: u.GetNamespace(), name: u.GetName()}
		c.ownersMu.Unlock()
	}
	if o := metaOf(old); o != nil {
		if o.GetGeneration() == u.GetGeneration() &&
			(o.GetDeletionTimestamp() == nil) == (u.GetDeletionTimestamp() == nil) &&
			suspended(o) == suspended(u) {
			return
		}
	}
	c.enqueueObject(gvr, u)
}

// onChildEvent routes a child's event to the instance that owns it.
func (c *Controller) onChildEvent(gvr schema.GroupVersionResource, obj, old any, deleted bool) {
	u := metaOf(obj)
	if u == nil {
		return
	}
	c.owned.update(gvr, obj, old, deleted)
	if deleted {
		c.echoes.forget(u.GetUID())
	} else {
		if o := metaOf(old); o != nil && o.GetResourceVersion() == u.GetResourceVersion() {
			return // resync
		}
		if c.echoes.echo(objectKey{gvr, u.GetNamespace(), u.GetName()}, u.GetUID(), u.GetResourceVersion()) {
			return // the reconcile that applied it has the object from the response
		}
	}
	c.ownersMu.RLock()
	k, ok := c.owners[types.UID(instanceID(obj))]
	c.ownersMu.RUnlock()
	if ok {
		c.queue.Add(k)
	}
}

func (c *Controller) enqueueObject(gvr schema.GroupVersionResource, obj any) {
	k, err := cache.MetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	ns, name, _ := cache.SplitMetaNamespaceKey(k)
	c.queue.Add(key{gvr: gvr, namespace: ns, name: name})
}

func (c *Controller) processNext(ctx context.Context) bool {
	k, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(k)
	err := c.safeReconcile(ctx, k)
	switch {
	case err == nil:
		c.queue.Forget(k)
	default:
		c.log.Error(err, "reconcile failed", "resource", k.gvr.Resource, "namespace", k.namespace, "name", k.name)
		c.queue.AddRateLimited(k)
	}
	return true
}

func (c *Controller) safeReconcile(ctx context.Context, k key) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return c.reconcile(ctx, k)
}
