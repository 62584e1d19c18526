package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// metricsOnly is a Controller that is only a /metrics URL.
type metricsOnly struct{ url string }

func (m metricsOnly) Pid() int                  { return 0 }
func (m metricsOnly) MetricsURL() string        { return m.url }
func (m metricsOnly) StartProfile(string) error { return nil }
func (m metricsOnly) StopProfile() error        { return nil }
func (m metricsOnly) HeapProfile(string) error  { return nil }
func (m metricsOnly) Stop() error               { return nil }

// TestWaitSettled: a restarted controller is settled once it has reconciled
// every instance and its queue stayed empty on two polls in a row; each
// poll is one uncompressed scrape.
func TestWaitSettled(t *testing.T) {
	var (
		mu       sync.Mutex
		scrapes  int
		encoding []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		scrapes++
		n := scrapes
		encoding = append(encoding, r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		// Scrapes 1-2: 3 of 5 reconciled, 2 queued; then all 5, queue empty.
		recs, depth := 3, 2
		if n > 2 {
			recs, depth = 5, 0
		}
		fmt.Fprintf(w, "instance_reconcile_total{gvr=\"kro.run/v1alpha1, Resource=benchapps\"} %d\n", recs)
		fmt.Fprintf(w, "instance_reconcile_total{gvr=\"kro.run/v1alpha1, Resource=otherapps\"} 7\n")
		fmt.Fprintf(w, "workqueue_depth{controller=\"instances\",name=\"instances\"} %d\n", depth)
		fmt.Fprintf(w, "workqueue_unfinished_work_seconds{controller=\"instances\",name=\"instances\"} 0\n")
	}))
	defer srv.Close()

	st, ok := waitSettled(context.Background(), metricsOnly{url: srv.URL}, 5, time.Minute)
	if !ok {
		t.Fatal("not settled")
	}
	if st.reconciles != 5 || st.first.IsZero() || !st.settled.After(st.first) {
		t.Errorf("settling %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	// Settled on scrape 3, confirmed on scrape 4: one scrape per poll.
	if scrapes != 4 {
		t.Errorf("%d scrapes, want 4 (one per poll)", scrapes)
	}
	for i, e := range encoding {
		if e != "identity" {
			t.Errorf("scrape %d accepted %q: the controller would compress for the poller", i+1, e)
		}
	}
}
