package identity

import (
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/lru"
)

// Clients hands out dynamic clients that impersonate ServiceAccounts, one
// per identity, kept in a bounded cache. They share client-go's transport
// cache, so connections are shared too; only the headers differ.
type Clients struct {
	base *rest.Config
	mu   sync.Mutex
	lru  *lru.Cache
}

// NewClients returns a cache of at most size impersonating clients built
// from base (trellis's own config).
func NewClients(base *rest.Config, size int) *Clients {
	return &Clients{base: base, lru: lru.New(size)}
}

// For returns the client acting as id (which must not be per-instance).
func (c *Clients) For(id Ref) (dynamic.Interface, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.lru.Get(id); ok {
		return v.(dynamic.Interface), nil
	}
	cfg := rest.CopyConfig(c.base)
	// Only the user name: the API server adds a ServiceAccount's groups,
	// and trellis needs impersonate on serviceaccounts alone.
	cfg.Impersonate = rest.ImpersonationConfig{UserName: id.User()}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c.lru.Add(id, dyn)
	return dyn, nil
}
