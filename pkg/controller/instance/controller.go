// Package instance reconciles instances of every RGD-generated kind with one
// dynamic controller: a shared queue, parallel workers, informers on the
// instance kinds and on the children (selected by trellis's labels).
package instance

import (
	"context"
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
	"github.com/trellis-dev/trellis/pkg/events"
	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/identity"
	"github.com/trellis-dev/trellis/pkg/metrics"
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
	// Events, if set, receives Events about instances (see statusWritten).
	Events *events.Recorder
	// Sharded: this replica serves only the buckets a shard.Ring hands it
	// (Cache, Serve, Drain), and runs without leader election.
	Sharded bool
	// ServerSideShards: the API server serves sharded list/watch, so the
	// instance informers ask for their share only.
	ServerSideShards bool
	// OnReconcile, if set, observes reconciles of cached instances: it is
	// called as one starts, the returned func as it ends.
	OnReconcile func(uid string) (done func())
	// Identity is the per-RGD identity policy; Clients impersonate the
	// identities and Access checks per-instance ones (both nil: every RGD
	// acts as trellis).
	Identity identity.Policy
	Clients  *identity.Clients
	Access   *identity.Reviewer
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
	// identity the children are written as (nil: trellis's own), and
	// whether namespaced children may leave the instance's namespace.
	identity       *identity.Ref
	crossNamespace bool
	// orphaned: the RGD is gone; only deletions are served (graph may be nil).
	orphaned bool
	// deletingSince is when the RGD's deletion began (zero: not deleting);
	// instances created after it are not reconciled. onCount is called
	// when an instance of the kind is created or deleted meanwhile.
	deletingSince time.Time
	onCount       func()
}

// Controller is the dynamic instance controller. It implements
// manager.Runnable and is fed graphs by the RGD controller.
type Controller struct {
	dyn  dynamic.Interface
	raw  rest.Interface // deletes, whose responses say whether the child is gone
	opts Options
	log  logr.Logger

	queue     workqueue.TypedRateLimitingInterface[key]
	limiter   workqueue.TypedRateLimiter[key]
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
	// unseen: children created whose informer has not shown them yet.
	unseen *unseenChildren

	// echoes recognises the watch events our own applies cause.
	echoes *echoes
	// written remembers the last status written per instance.
	written *writtenStatuses
	// deletions remembers what deleting instances' DELETEs showed.
	deletions *deletions
	// unsynced holds the instances last reconciled before every child
	// cache they read had listed.
	unsynced *keySet

	extMu       sync.Mutex
	extWatchers map[schema.GroupVersionResource]map[key][]externalRef

	mu   sync.RWMutex
	regs map[schema.GroupVersionResource]*registration

	// shard is the replica's share (nil: it serves every instance).
	shard *shardGate
}

// New returns a controller; call Start (via the manager) to run it. dyn
// writes; raw (a JSON REST client, see NewRawClient) feeds the informers.
func New(dyn dynamic.Interface, raw rest.Interface, log logr.Logger, opts Options) *Controller {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	limiter := workqueue.NewTypedItemExponentialFailureRateLimiter[key](200*time.Millisecond, 5*time.Minute)
	c := &Controller{
		dyn:     dyn,
		raw:     raw,
		opts:    opts,
		log:     log,
		limiter: limiter,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter,
			workqueue.TypedRateLimitingQueueConfig[key]{Name: "instances"}),
		echoes:    newEchoes(),
		written:   newWrittenStatuses(),
		deletions: newDeletions(),
		unsynced:  &keySet{m: map[key]struct{}{}},
		owned:     newChildIndex(),
		unseen:    newUnseenChildren(),
		owners:    map[types.UID]key{},
		regs:      map[schema.GroupVersionResource]*registration{},
	}
	metrics.SetQueueLength(c.queue.Len)
	c.instances = newInformerSet(raw, "", c.onInstanceEvent)
	c.children = newInformerSet(raw, trt.LabelOwned+"=true", c.onChildEvent)
	c.children.decode = decodeOptions{routingOnly: true, fieldManager: opts.FieldManager}
	// A child listed at start need not bring its instance: every instance
	// is queued by its own informer's list (or by Register on a graph
	// change), and its reconcile waits for the child caches to list.
	// Queuing it again from each child cost a third more reconciles after a
	// restart.
	// An instance reconciled before that list is queued, though: its
	// reconcile gave up waiting for the child caches (a list failing, e.g.
	// forbidden until a role is granted) and did not see the child.
	c.children.onInitialAdd = func(gvr schema.GroupVersionResource, obj any) {
		c.owned.update(gvr, obj, nil, false)
		if m := metaOf(obj); m != nil {
			c.unseen.seen(m.GetUID())
		}
		c.ownersMu.RLock()
		k, ok := c.owners[types.UID(instanceID(obj))]
		c.ownersMu.RUnlock()
		if ok && c.unsynced.has(k) {
			c.queue.Add(k)
		}
	}
	c.externals = newInformerSet(raw, "", c.onExternalEvent)
	c.externals.indexers = cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc} // selector lookups
	c.extWatchers = map[schema.GroupVersionResource]map[key][]externalRef{}
	if opts.Sharded {
		c.enableSharding(opts.ServerSideShards)
	}
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

// NeedLeaderElection: only the leader reconciles instances, unless they
// are sharded across replicas.
func (c *Controller) NeedLeaderElection() bool { return c.shard == nil }

// Register serves the instances of g's kind with g. Registering a graph
// that differs from the current one re-enqueues every instance.
func (c *Controller) Register(ctx context.Context, rgd *v1alpha1.ResourceGraphDefinition, g *graph.Graph, revision int64) error {
	gvr := g.Instance.GVR()
	id, err := c.opts.Identity.For(rgd.Annotations)
	if err != nil {
		return err // never fall back to trellis's own identity
	}
	c.mu.Lock()
	prev := c.regs[gvr]
	c.regs[gvr] = &registration{graph: g, revision: revision, rgdName: rgd.Name, rgdUID: string(rgd.UID),
		identity: id, crossNamespace: c.opts.Identity.AllowsCrossNamespace(rgd.Annotations)}
	c.mu.Unlock()

	// Children informers first, so the first reconcile sees them.
	for _, n := range g.Nodes {
		if n.External == nil {
			c.children.get(n.GVR)
		}
	}
	inf := c.instances.get(gvr)
	if prev != nil && (prev.graph == nil || prev.graph.Hash != g.Hash || prev.revision != revision ||
		!sameRef(prev.identity, id) || prev.crossNamespace != c.regs[gvr].crossNamespace) {
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

// ServeOrphans keeps serving the instances of a kind whose RGD (rgdName) is
// gone: their status says they are orphaned, and when they are deleted,
// their children are deleted and their finalizers released. They are not
// reconciled otherwise.
func (c *Controller) ServeOrphans(gvr schema.GroupVersionResource, rgdName string) {
	c.mu.Lock()
	reg := &registration{orphaned: true, rgdName: rgdName}
	if prev := c.regs[gvr]; prev != nil {
		reg.graph = prev.graph // its kinds help find children
		reg.identity = prev.identity
	}
	c.regs[gvr] = reg
	c.mu.Unlock()
	inf := c.instances.get(gvr)
	for _, obj := range inf.GetStore().List() {
		c.enqueueObject(gvr, obj)
	}
}

// MarkDeleting records that the RGD serving gvr is being deleted since
// since: instances created after that are not reconciled (their status says
// why), and onCount is called whenever an instance of the kind is created
// or deleted, so the RGD's blocked-deletion message stays current.
func (c *Controller) MarkDeleting(gvr schema.GroupVersionResource, since time.Time, onCount func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if reg := c.regs[gvr]; reg != nil && !reg.orphaned && reg.deletingSince.IsZero() {
		next := *reg
		next.deletingSince, next.onCount = since, onCount
		c.regs[gvr] = &next
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
	if deleted || old == nil {
		if reg := c.registration(gvr); reg != nil && reg.onCount != nil {
			reg.onCount()
		}
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
	c.unseen.seen(u.GetUID())
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
	if c.shard != nil {
		done, ok := c.shard.enter(c.uidOf(k))
		if !ok {
			c.queue.Forget(k) // another replica's (now): it enqueues its own
			return true
		}
		defer done()
	}
	if c.opts.OnReconcile != nil {
		if uid := c.uidOf(k); uid != "" {
			defer c.opts.OnReconcile(uid)()
		}
	}
	m := metrics.ForGVR(k.gvr)
	start := time.Now()
	err := c.safeReconcile(ctx, k)
	m.Reconciled(time.Since(start), err)
	switch {
	case err == nil:
		c.queue.Forget(k)
	default:
		c.log.Error(err, "reconcile failed", "resource", k.gvr.Resource, "namespace", k.namespace, "name", k.name)
		c.queue.AddAfter(k, retryAfter(err, c.limiter.When(k)))
	}
	return true
}

func (c *Controller) safeReconcile(ctx context.Context, k key) (err error) {
	defer c.recoverReconcile(ctx, k, &err)
	injectFault(k, "")
	return c.reconcile(ctx, k)
}
