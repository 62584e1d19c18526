package instance

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellis-dev/trellis/pkg/shard"
)

// shardGate is the share of the instances a replica serves (see pkg/shard):
// its caches keep only the instances of the cached buckets and their
// children, and it reconciles only instances of the served buckets.
type shardGate struct {
	serverSide bool          // the API server selects by shard (else: client-side only)
	cached     atomic.Uint64 // shard.Set the informers keep

	mu       sync.Mutex
	served   shard.Set
	inflight [shard.Buckets]int
}

// enableSharding makes c serve no instance until its Ring hands it buckets.
func (c *Controller) enableSharding(serverSide bool) {
	g := &shardGate{serverSide: serverSide}
	c.shard = g
	c.instances.keep = func(o *compact) bool { return shard.Set(g.cached.Load()).Contains(string(o.UID)) }
	if serverSide {
		c.instances.shardSelector = func() string {
			s := shard.Set(g.cached.Load())
			if s == 0 {
				s = 1 // no selector would be everything; keep drops the rest
			}
			sel, _ := s.Selector(shard.FieldUID)
			return sel
		}
	}
	// Children cannot be selected by their instance's UID on the server:
	// they are dropped before the cache by their kro.run/instance-id label.
	c.children.keep = func(o *compact) bool {
		return o.instanceID == "" || shard.Set(g.cached.Load()).Contains(o.instanceID)
	}
}

var _ shard.Target = (*Controller)(nil)

// Cache makes the instance and child caches hold the buckets of s (and
// nothing else) and returns once they have listed.
func (c *Controller) Cache(ctx context.Context, s shard.Set) error {
	if shard.Set(c.shard.cached.Swap(uint64(s))) == s {
		return nil
	}
	if err := c.instances.reshard(ctx); err != nil {
		return err
	}
	return c.children.reshard(ctx)
}

// Serve reconciles the instances of s from now on; those of buckets s adds
// are enqueued.
func (c *Controller) Serve(s shard.Set) {
	g := c.shard
	g.mu.Lock()
	added := s &^ g.served
	g.served = s
	g.mu.Unlock()
	if added == 0 {
		return
	}
	c.instances.each(func(gvr schema.GroupVersionResource, obj any) {
		if m := metaOf(obj); m != nil && added.Contains(string(m.GetUID())) {
			c.enqueueObject(gvr, obj)
		}
	})
}

// Drain returns once no reconcile of an instance in s runs (or ctx ends).
func (c *Controller) Drain(ctx context.Context, s shard.Set) {
	for {
		busy := false
		c.shard.mu.Lock()
		for b := 0; b < shard.Buckets; b++ {
			if s.Has(b) && c.shard.inflight[b] > 0 {
				busy = true
				break
			}
		}
		c.shard.mu.Unlock()
		if !busy {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// enter admits a reconcile of the instance with this UID if its bucket is
// served, and counts it until done is called. An instance not in the cache
// ("" UID) is admitted: its reconcile only forgets what was kept about it.
func (g *shardGate) enter(uid string) (done func(), ok bool) {
	if uid == "" {
		return func() {}, true
	}
	b := shard.BucketOf(uid)
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.served.Has(b) {
		return nil, false
	}
	g.inflight[b]++
	return func() {
		g.mu.Lock()
		g.inflight[b]--
		g.mu.Unlock()
	}, true
}

// uidOf is the UID of the cached instance k ("" if not cached).
func (c *Controller) uidOf(k key) string {
	obj, ok, _ := c.instances.get(k.gvr).GetStore().GetByKey(cacheKey(k.namespace, k.name))
	if !ok {
		return ""
	}
	if m := metaOf(obj); m != nil {
		return string(m.GetUID())
	}
	return ""
}

// Sharded reports whether c serves a share of the instances, and whether
// the API server selects that share.
func (c *Controller) Sharded() (sharded, serverSide bool) {
	if c.shard == nil {
		return false, false
	}
	return true, c.shard.serverSide
}

// Serving is the set of buckets this replica reconciles (All unsharded).
func (c *Controller) Serving() shard.Set {
	if c.shard == nil {
		return shard.All
	}
	c.shard.mu.Lock()
	defer c.shard.mu.Unlock()
	return c.shard.served
}

// CachedObjects counts the instances and children in the caches.
func (c *Controller) CachedObjects() (instances, children int) {
	c.instances.each(func(schema.GroupVersionResource, any) { instances++ })
	c.children.each(func(schema.GroupVersionResource, any) { children++ })
	return instances, children
}
