// What the benchmark reads while it runs: the apiserver's request and watch
// counters, the controller's own metrics and queue, and CPU from /proc.

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// scrape reads the apiserver's request counters.
func (r *runner) scrape(ctx context.Context) (Requests, error) {
	raw, err := r.rest.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("apiserver /metrics: %w", err)
	}
	samples, err := ParseMetric(strings.NewReader(string(raw)), "apiserver_request_total")
	if err != nil {
		return nil, err
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("apiserver /metrics has no apiserver_request_total")
	}
	return RequestsFromSamples(samples), nil
}

// watchTraffic is what the apiserver sent to watchers: events and bytes.
type watchTraffic struct{ events, bytes float64 }

// scrapeWatch reads apiserver_watch_events_total and
// apiserver_watch_events_sizes_sum, summed over all resources.
func (r *runner) scrapeWatch(ctx context.Context) watchTraffic {
	raw, err := r.rest.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return watchTraffic{}
	}
	var w watchTraffic
	for name, dst := range map[string]*float64{"apiserver_watch_events_total": &w.events, "apiserver_watch_events_sizes_sum": &w.bytes} {
		samples, _ := ParseMetric(strings.NewReader(string(raw)), name)
		for _, s := range samples {
			*dst += s.Value
		}
	}
	return w
}

func (w watchTraffic) perInstance(before watchTraffic, n int) (events, kib float64) {
	return round(perInstance(w.events-before.events, n), 1), round(perInstance(w.bytes-before.bytes, n)/1024, 1)
}

// controllerWrites reads the controller's own count of its writes.
func controllerWrites(ctx context.Context, c Controller) (float64, bool) {
	samples, ok := controllerMetric(ctx, c, "rest_client_requests_total")
	if !ok {
		return 0, false
	}
	return ClientWrites(samples), true
}

// scrape reads the controller's /metrics once; false when the controller
// has none or it cannot be read.
func scrape(ctx context.Context, c Controller) (string, bool) {
	url := c.MetricsURL()
	if url == "" {
		return "", false
	}
	body, err := httpBody(ctx, url)
	return body, err == nil
}

// controllerMetric reads one metric family from the controller's /metrics.
func controllerMetric(ctx context.Context, c Controller, name string) ([]Sample, bool) {
	body, ok := scrape(ctx, c)
	if !ok {
		return nil, false
	}
	samples, err := ParseMetric(strings.NewReader(body), name)
	return samples, err == nil
}

// controllerGauge reads one unlabelled gauge of the controller's /metrics.
func controllerGauge(ctx context.Context, c Controller, name string) (float64, bool) {
	samples, ok := controllerMetric(ctx, c, name)
	if !ok || len(samples) != 1 {
		return 0, false
	}
	return samples[0].Value, true
}

// controllerQueue reads the controller's instance workqueue counters.
func controllerQueue(ctx context.Context, c Controller) (QueueCounters, bool) {
	body, ok := scrape(ctx, c)
	if !ok {
		return QueueCounters{}, false
	}
	return instanceQueue(body)
}

// instanceQueue reads the instance workqueue's counters from a scrape.
func instanceQueue(body string) (QueueCounters, bool) {
	q, err := ParseQueue(body, "instances")
	return q, err == nil
}

// quietLimit bounds waiting for the controller's queue to drain; a
// controller that never quiets down is reported by the figures, not waited for.
const quietLimit = 5 * time.Minute

// waitQuiet waits until the controller's instance queue is empty and no
// reconcile is running (twice in a row, 250 ms apart), so that the "after"
// scrape includes the passes queued behind the last ACTIVE. It returns when
// the queue first became quiet, or false when the controller has no metrics
// or does not quiet down within limit.
func waitQuiet(ctx context.Context, c Controller, limit time.Duration) (time.Time, bool) {
	if c.MetricsURL() == "" {
		return time.Time{}, false
	}
	deadline := time.Now().Add(limit)
	var since time.Time
	for time.Now().Before(deadline) {
		q, ok := controllerQueue(ctx, c)
		now := time.Now()
		switch {
		case !ok:
			return time.Time{}, false
		case q.Depth == 0 && q.Unfinished == 0:
			if since.IsZero() {
				since = now
			} else {
				return since, true
			}
		default:
			since = time.Time{}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false
		case <-time.After(250 * time.Millisecond):
		}
	}
	return time.Time{}, false
}

// cpu returns the CPU seconds of the apiserver and etcd.
func (r *runner) cpu() (api, etcd float64) {
	pids := r.cluster.Pids()
	if ps, err := ReadProc(pids["kube-apiserver"]); err == nil {
		api = ps.CPUSeconds
	}
	if ps, err := ReadProc(pids["etcd"]); err == nil {
		etcd = ps.CPUSeconds
	}
	return api, etcd
}

func summary(lines []Line, n int) string {
	var parts []string
	for _, l := range lines {
		parts = append(parts, fmt.Sprintf("%s %s %s=%.2f", l.Resource, l.Verb, l.Code, perInstance(l.Count, n)))
	}
	return strings.Join(parts, ", ")
}

func httpBody(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	// Uncompressed: the benchmark polls /metrics every 100 ms while a
	// restart settles, and the controller it measures should not spend its
	// cores on gzip for the poller.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %d", url, resp.StatusCode)
	}
	return string(raw), nil
}
