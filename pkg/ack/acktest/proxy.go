package acktest

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// CountingProxy forwards HTTP requests on loopback to a server and counts
// them, so tests can see how often a controller calls AWS.
type CountingProxy struct {
	Endpoint string
	mu       sync.Mutex
	n        int
}

// NewCountingProxy starts a proxy to target (http://host:port), stopped when
// the test ends.
func NewCountingProxy(tb testing.TB, target string) *CountingProxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &CountingProxy{Endpoint: "http://" + l.Addr().String()}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.n++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return p
}

// Count returns the number of requests so far.
func (p *CountingProxy) Count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}
