// Package bench measures trellis against the physical floor of the local
// control plane (issue 6): for each N it creates, with a plain client, exactly
// the objects N BenchApps expand to (the floor), then lets trellis do the same
// from N BenchApp instances, and compares time, apiserver writes, idle writes,
// controller memory and CPU, deletion and RGD-change propagation. It also
// compares instance-worker counts on one N. `trellis bench` is the command.
package bench

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/localcluster"
)

// RGD is the benchmark workload, a copy of the shared bench/rgd-bench.yaml:
// BenchApp with five children, a Service's clusterIP flowing into a ConfigMap.
//
//go:embed testdata/rgd-bench.yaml
var RGD []byte

var (
	rgdGVR   = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
	benchGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "benchapps"}
)

// CountedResources are the resources whose writes count as the workload's:
// the five children's kinds and the two instance kinds. apiserver_request_total
// cannot tell clients apart, so this filter (plus a fresh namespace per
// phase, created before the first scrape and settled) is what separates the
// workload from the cluster's own background writes (leases, events,
// EndpointSlices, CRDs).
var CountedResources = []string{"configmaps", "secrets", "serviceaccounts", "services", "benchapps", "floorapps"}

// ChangeLabel is the label the RGD change adds to the config template.
const ChangeLabel = "bench.trellis.dev/rev"

// Options configure a benchmark run.
type Options struct {
	// Ns are the instance counts (default 100, 1000, 5000).
	Ns []int
	// Workers is trellis's instance worker count for the main runs (default 16).
	Workers int
	// Concurrency of the floor client and of the user's creates and deletes
	// (default: Workers).
	Concurrency int
	// QPS and Burst of the benchmark's own clients; the controller keeps its
	// defaults (--client-qps 1000, --client-burst 2000), the same numbers.
	QPS   float32
	Burst int
	// IdleN is the N whose idle write rate is measured, for Idle (default
	// 1000 for 60 s). Idle 0 skips the idle window.
	IdleN int
	Idle  time.Duration
	// Settle is waited after all-ACTIVE (and after a change) before the
	// "after" scrape, so trailing writes are counted (default 5 s).
	Settle time.Duration
	// ScaleN and ScaleWorkers: the worker comparison (default N=1000, 1 and
	// 4 workers). ScaleN 0 skips it.
	ScaleN       int
	ScaleWorkers []int
	// Repeat runs every N (floor then trellis) and every worker count this
	// many times and reports medians: the machine is shared and a single
	// run can be 30% off (default 1).
	Repeat int
	// FloorApply also measures the floor with trellis's verbs (children
	// server-side applied, status merge-patched): the apiserver's share.
	FloorApply bool
	// RGD replaces the embedded workload, for experiments (e.g. a variant of
	// it). It must still define BenchApp with the same five children.
	RGD []byte
	// OutDir receives <date>.json and <date>.md ("" writes nothing).
	OutDir string
	// LogDir receives the controller logs (default a temporary directory).
	LogDir string
	// ProfileDir, if set, receives a CPU profile of the controller from the
	// first create to all-ACTIVE of every main run.
	ProfileDir string
	// Controller starts trellis's controllers (required).
	Controller StartController
	// Cluster to run on; nil starts a fresh local control plane
	// (etcd, kube-apiserver, kube-controller-manager) and stops it at the end.
	Cluster *localcluster.Cluster
	// Timeout bounds every wait (default 30 minutes).
	Timeout time.Duration
	// Version is the trellis version reported.
	Version string
	// Log receives progress (default stderr).
	Log io.Writer
}

func (o *Options) defaults() {
	if len(o.Ns) == 0 {
		o.Ns = []int{100, 1000, 5000}
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Concurrency <= 0 {
		o.Concurrency = o.Workers
	}
	if o.QPS == 0 {
		o.QPS, o.Burst = 1000, 2000
	}
	if o.Repeat < 1 {
		o.Repeat = 1
	}
	if o.Settle == 0 {
		o.Settle = 5 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Minute
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
}

// runner holds the clients of one run.
type runner struct {
	o        Options
	cluster  *localcluster.Cluster
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	ext      apiextclient.Interface
	rest     rest.Interface
	rgd      *unstructured.Unstructured
	warmupNS string
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.o.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// Run runs the benchmark and returns (and, with OutDir, writes) the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if o.Controller == nil {
		return nil, fmt.Errorf("bench: no controller to start")
	}
	r := &runner{o: o, cluster: o.Cluster}
	rep := &Report{Date: time.Now().UTC(), Machine: machine(), Kubernetes: localcluster.KubernetesVersion, Trellis: o.Version,
		Settings: Settings{
			Ns: o.Ns, Workers: o.Workers, Concurrency: o.Concurrency, ClientQPS: o.QPS, ClientBurst: o.Burst,
			IdleN: o.IdleN, IdleSeconds: o.Idle.Seconds(), SettleSeconds: o.Settle.Seconds(),
			ScaleN: o.ScaleN, ScaleWorkers: o.ScaleWorkers, CountedResource: CountedResources, Repeat: o.Repeat,
		}}
	if r.cluster == nil {
		r.logf("starting a local control plane (etcd, kube-apiserver, kube-controller-manager)")
		c, err := localcluster.Start(ctx, localcluster.Options{ControllerManager: true, Profiling: o.ProfileDir != "", Log: o.Log})
		if err != nil {
			return nil, err
		}
		defer c.Stop()
		r.cluster = c
	}
	if r.o.LogDir == "" {
		d, err := os.MkdirTemp("", "trellis-bench-")
		if err != nil {
			return nil, err
		}
		r.o.LogDir = d
	}
	r.logf("controller logs in %s", r.o.LogDir)
	cfg := rest.CopyConfig(r.cluster.Config)
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.UserAgent = "trellis-bench"
	var err error
	if r.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if r.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if r.ext, err = apiextclient.NewForConfig(cfg); err != nil {
		return nil, err
	}
	r.rest = r.kube.CoreV1().RESTClient()
	r.rgd = &unstructured.Unstructured{}
	workload := RGD
	if len(o.RGD) > 0 {
		workload = o.RGD
	}
	if err := yaml.Unmarshal(workload, &r.rgd.Object); err != nil {
		return nil, fmt.Errorf("benchmark RGD: %w", err)
	}
	if err := installFloorCRD(ctx, r.ext); err != nil {
		return nil, err
	}
	defer func() {
		if r.warmupNS != "" {
			_ = r.kube.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), r.warmupNS, metav1.DeleteOptions{})
		}
	}()
	for _, n := range o.Ns {
		run := Row{N: n}
		if run.Floor, err = r.floor(ctx, n, false, o.Concurrency); err != nil {
			return rep, fmt.Errorf("floor N=%d: %w", n, err)
		}
		if o.FloorApply {
			fa, err := r.floor(ctx, n, true, o.Concurrency)
			if err != nil {
				return rep, fmt.Errorf("floor (apply) N=%d: %w", n, err)
			}
			run.FloorApply = &fa
		}
		if run.Trellis, err = r.trellis(ctx, n, o.Workers, true); err != nil {
			return rep, fmt.Errorf("trellis N=%d: %w", n, err)
		}
		run.Pairs = append(run.Pairs, NewPair(run.Floor.Seconds, run.Trellis.Seconds))
		for i := 1; i < o.Repeat; i++ {
			f, err := r.floor(ctx, n, false, o.Concurrency)
			if err != nil {
				return rep, fmt.Errorf("floor N=%d (repetition %d): %w", n, i+1, err)
			}
			t, err := r.trellis(ctx, n, o.Workers, false)
			if err != nil {
				return rep, fmt.Errorf("trellis N=%d (repetition %d): %w", n, i+1, err)
			}
			run.Pairs = append(run.Pairs, NewPair(f.Seconds, t.Seconds))
		}
		run.Summarize()
		rep.Runs = append(rep.Runs, run)
		r.logf("N=%d: floor %.1fs, trellis %.1fs (%.2f×, median of %d), writes/instance %.2f vs %.2f", n, run.FloorSeconds, run.TrellisSeconds,
			run.Ratio, len(run.Pairs), run.Floor.WritesPerInstance, run.Trellis.WritesPerInstance)
	}
	if o.ScaleN > 0 && len(o.ScaleWorkers) > 0 {
		s := &Scaling{N: o.ScaleN}
		// Repetitions interleave the worker counts, so a slow spell of the
		// machine hits all of them alike.
		// The floor at the same concurrency is the machine's ceiling: no
		// controller's speedup can beat the plain client's.
		for i := 0; i < o.Repeat; i++ {
			for j, w := range o.ScaleWorkers {
				f, err := r.floor(ctx, o.ScaleN, false, w)
				if err != nil {
					return rep, fmt.Errorf("floor N=%d concurrency %d: %w", o.ScaleN, w, err)
				}
				t, err := r.trellis(ctx, o.ScaleN, w, false)
				if err != nil {
					return rep, fmt.Errorf("trellis N=%d workers=%d: %w", o.ScaleN, w, err)
				}
				r.logf("N=%d workers=%d: %.1fs (floor at concurrency %d: %.1fs)", o.ScaleN, w, t.Seconds, w, f.Seconds)
				if i > 0 {
					s.Runs[j].Repeats = append(s.Runs[j].Repeats, t.Seconds)
					s.Runs[j].FloorRepeats = append(s.Runs[j].FloorRepeats, f.Seconds)
					continue
				}
				s.Runs = append(s.Runs, ScalingRun{Workers: w, Repeats: []float64{t.Seconds}, FloorRepeats: []float64{f.Seconds},
					WritesPerInstance: t.WritesPerInstance, ControllerCPU: t.Controller.CPUSecondsActive,
					APIServerCPU: t.APIServerCPU, EtcdCPU: t.EtcdCPU, BusyCores: t.BusyCores, Queue: t.Queue, QuietSeconds: t.QuietSeconds})
			}
		}
		for i := range s.Runs {
			s.Runs[i].Seconds = median(s.Runs[i].Repeats)
			s.Runs[i].FloorSeconds = median(s.Runs[i].FloorRepeats)
			s.Runs[i].PerSecond = round(ratio(float64(o.ScaleN), s.Runs[i].Seconds), 1)
		}
		s.Speedup = round(ratio(s.Runs[0].Seconds, s.Runs[len(s.Runs)-1].Seconds), 2)
		s.FloorSpeedup = round(ratio(s.Runs[0].FloorSeconds, s.Runs[len(s.Runs)-1].FloorSeconds), 2)
		rep.Scaling = s
	}
	rep.EvaluateTargets()
	if o.OutDir != "" {
		path, err := rep.Write(o.OutDir)
		if err != nil {
			return rep, err
		}
		r.logf("wrote %s", path)
	}
	return rep, nil
}

func instanceNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("app-%05d", i)
	}
	return out
}

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
	url := c.MetricsURL()
	if url == "" {
		return 0, false
	}
	body, err := httpBody(ctx, url)
	if err != nil {
		return 0, false
	}
	samples, err := ParseMetric(strings.NewReader(body), "rest_client_requests_total")
	if err != nil {
		return 0, false
	}
	return ClientWrites(samples), true
}

// controllerQueue reads the controller's instance workqueue counters.
func controllerQueue(ctx context.Context, c Controller) (QueueCounters, bool) {
	url := c.MetricsURL()
	if url == "" {
		return QueueCounters{}, false
	}
	body, err := httpBody(ctx, url)
	if err != nil {
		return QueueCounters{}, false
	}
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

// namespace creates ns and waits until kube-controller-manager has written
// what it writes into every new namespace (default ServiceAccount,
// kube-root-ca.crt), so those writes fall before the first scrape.
func (r *runner) namespace(ctx context.Context, ns string) error {
	_, err := r.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err1 := r.kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		_, err2 := r.kube.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err1 == nil && err2 == nil, nil
	})
	time.Sleep(time.Second)
	return nil
}

// dropNamespace deletes ns and waits until it is gone, so the namespace
// controller's clean-up does not overlap the next phase.
func (r *runner) dropNamespace(ctx context.Context, ns string) {
	if err := r.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		r.logf("delete namespace %s: %v", ns, err)
		return
	}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := r.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		r.logf("namespace %s still terminating; continuing", ns)
	}
}

func (r *runner) floor(ctx context.Context, n int, apply bool, concurrency int) (Floor, error) {
	var f Floor
	ns, what := fmt.Sprintf("bench-floor-%d", n), "floor"
	if apply {
		ns, what = fmt.Sprintf("bench-floor-apply-%d", n), "floor (apply)"
	}
	r.logf("%s N=%d (namespace %s, concurrency %d)", what, n, ns, concurrency)
	if err := r.namespace(ctx, ns); err != nil {
		return f, err
	}
	defer r.dropNamespace(context.WithoutCancel(ctx), ns)
	names := instanceNames(n)
	tr, err := newTracker(ctx, r.dyn, ns, floorGVR, names, "")
	if err != nil {
		return f, err
	}
	defer tr.stop()
	wctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	fc := &floorClient{kube: r.kube, dyn: r.dyn, ns: ns}

	if err := r.floorWarmup(ctx); err != nil {
		return f, fmt.Errorf("warm-up: %w", err)
	}
	before, err := r.scrape(ctx)
	if err != nil {
		return f, err
	}
	w0 := r.scrapeWatch(ctx)
	api0, etcd0 := r.cpu()
	m0, _ := ReadCPUTimes()
	apiProfile := r.apiserverProfile(ctx, "apiserver-"+ns, profileSeconds)
	defer apiProfile()
	start := time.Now()
	create := fc.createOne
	if apply {
		create = fc.applyOne
	}
	if err := forEach(wctx, names, concurrency, create); err != nil {
		return f, err
	}
	done, err := tr.wait(wctx, "floor ACTIVE", r.logf, func(c counts) bool { return c.Active == n && c.Children == n*childrenPerInstance })
	if err != nil {
		return f, err
	}
	f.Seconds = round(done.Sub(start).Seconds(), 2)
	api1, etcd1 := r.cpu()
	m1, _ := ReadCPUTimes()
	f.APIServerCPU, f.EtcdCPU = round(api1-api0, 2), round(etcd1-etcd0, 2)
	f.BusyCores = round(BusyCores(m0, m1, runtime.NumCPU()), 2)
	time.Sleep(r.o.Settle)
	after, err := r.scrape(ctx)
	if err != nil {
		return f, err
	}
	f.WatchEventsPerInstance, f.WatchKiBPerInstance = r.scrapeWatch(ctx).perInstance(w0, n)
	w := after.Sub(before).Mutating().Resources(CountedResources...)
	f.Writes, f.WritesPerInstance, f.Breakdown = w.Total(), round(perInstance(w.Total(), n), 2), w.Breakdown()
	r.logf("%s N=%d: %.2fs, %.2f writes/instance", what, n, f.Seconds, f.WritesPerInstance)

	start = time.Now()
	if err := forEach(wctx, names, concurrency, fc.deleteOne); err != nil {
		return f, err
	}
	done, err = tr.wait(wctx, "floor objects gone", r.logf, func(c counts) bool { return c.Children == 0 && c.Instances == 0 })
	if err != nil {
		return f, err
	}
	f.DeleteSeconds = round(done.Sub(start).Seconds(), 2)
	return f, nil
}

// warmupNamespace is the namespace of every warm-up, created once.
func (r *runner) warmupNamespace(ctx context.Context) (string, error) {
	if r.warmupNS == "" {
		if err := r.namespace(ctx, "bench-warmup"); err != nil {
			return "", err
		}
		r.warmupNS = "bench-warmup"
	}
	return r.warmupNS, nil
}

// floorWarmup creates and deletes one FloorApp with its children, so the
// floor, like trellis, is measured on a warm apiserver and client.
func (r *runner) floorWarmup(ctx context.Context) error {
	ns, err := r.warmupNamespace(ctx)
	if err != nil {
		return err
	}
	fc := &floorClient{kube: r.kube, dyn: r.dyn, ns: ns}
	if err := fc.createOne(ctx, "warmup"); err != nil {
		return err
	}
	return fc.deleteOne(ctx, "warmup")
}

// applyRGD applies the benchmark RGD, with ChangeLabel=rev on the config
// template when rev is not empty.
func (r *runner) applyRGD(ctx context.Context, rev string) error {
	u := r.rgd.DeepCopy()
	if rev != "" {
		res, _, _ := unstructured.NestedSlice(u.Object, "spec", "resources")
		first := res[0].(map[string]any)
		if err := unstructured.SetNestedField(first, rev, "template", "metadata", "labels", ChangeLabel); err != nil {
			return err
		}
		if err := unstructured.SetNestedSlice(u.Object, res, "spec", "resources"); err != nil {
			return err
		}
	}
	_, err := r.dyn.Resource(rgdGVR).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "trellis-bench", Force: true})
	return err
}

func benchApp(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": benchGVR.GroupVersion().String(), "kind": "BenchApp",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"name": name},
	}}
}

// warmup brings one instance to ACTIVE and deletes it again, so the
// controller has registered the kind and started its informers before the
// measured phase (a running controller is warm).
func (r *runner) warmup(ctx context.Context) error {
	ns, err := r.warmupNamespace(ctx)
	if err != nil {
		return err
	}
	tr, err := newTracker(ctx, r.dyn, ns, benchGVR, []string{"warmup"}, "")
	if err != nil {
		return err
	}
	defer tr.stop()
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	err = wait.PollUntilContextTimeout(wctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := r.dyn.Resource(benchGVR).Namespace(ns).Create(ctx, benchApp(ns, "warmup"), metav1.CreateOptions{})
		return err == nil, nil // the kind may not be served yet
	})
	if err != nil {
		return fmt.Errorf("create warm-up instance: %w", err)
	}
	if _, err := tr.wait(wctx, "warm-up ACTIVE", r.logf, func(c counts) bool { return c.Active == 1 }); err != nil {
		return err
	}
	if err := r.dyn.Resource(benchGVR).Namespace(ns).Delete(wctx, "warmup", metav1.DeleteOptions{}); err != nil {
		return err
	}
	_, err = tr.wait(wctx, "warm-up gone", r.logf, func(c counts) bool { return c.Instances == 0 && c.Children == 0 })
	return err
}

// trellis runs one trellis phase: create N → all ACTIVE; with full, also the
// idle window (at IdleN), the RGD change and the deletion figures.
func (r *runner) trellis(ctx context.Context, n, workers int, full bool) (Trellis, error) {
	t := Trellis{Workers: workers}
	ns := fmt.Sprintf("bench-trellis-%d-w%d", n, workers)
	r.logf("trellis N=%d workers=%d (namespace %s)", n, workers, ns)
	logPath := filepath.Join(r.o.LogDir, fmt.Sprintf("controller-%d-w%d.log", n, workers))
	c, err := r.o.Controller(ctx, r.cluster.Kubeconfig, workers, logPath)
	if err != nil {
		return t, err
	}
	defer c.Stop()
	if err := r.applyRGD(ctx, ""); err != nil {
		return t, fmt.Errorf("apply RGD: %w", err)
	}
	if err := waitCRD(ctx, r.ext, benchGVR.Resource+"."+benchGVR.Group); err != nil {
		return t, fmt.Errorf("BenchApp CRD not established: %w (controller log: %s)", err, logPath)
	}
	if err := r.warmup(ctx); err != nil {
		return t, fmt.Errorf("warm-up: %w (controller log: %s)", err, logPath)
	}
	if err := r.namespace(ctx, ns); err != nil {
		return t, err
	}
	defer r.dropNamespace(context.WithoutCancel(ctx), ns)
	names := instanceNames(n)
	tr, err := newTracker(ctx, r.dyn, ns, benchGVR, names, ChangeLabel+"=2")
	if err != nil {
		return t, err
	}
	defer tr.stop()
	wctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()

	before, err := r.scrape(ctx)
	if err != nil {
		return t, err
	}
	w0 := r.scrapeWatch(ctx)
	cw0, hasCW := controllerWrites(ctx, c)
	q0, hasQ := controllerQueue(ctx, c)
	api0, etcd0 := r.cpu()
	var cpu0 float64
	if pid := c.Pid(); pid != 0 {
		if ps, err := ReadProc(pid); err == nil {
			cpu0 = ps.CPUSeconds
		}
	}
	profiling := full && r.o.ProfileDir != ""
	if profiling {
		if err := os.MkdirAll(r.o.ProfileDir, 0o755); err != nil {
			return t, err
		}
		path, _ := filepath.Abs(filepath.Join(r.o.ProfileDir, fmt.Sprintf("controller-%d-w%d.cpu.pprof", n, workers)))
		if err := c.StartProfile(path); err != nil {
			r.logf("cpu profile: %v", err)
			profiling = false
		}
	}
	m0, _ := ReadCPUTimes()
	if full {
		defer r.apiserverProfile(ctx, fmt.Sprintf("apiserver-trellis-%d", n), profileSeconds)()
	}
	start := time.Now()
	create := func(ctx context.Context, name string) error {
		_, err := r.dyn.Resource(benchGVR).Namespace(ns).Create(ctx, benchApp(ns, name), metav1.CreateOptions{})
		return err
	}
	if err := forEach(wctx, names, r.o.Concurrency, create); err != nil {
		return t, err
	}
	t.CreatesSeconds = round(time.Since(start).Seconds(), 2)
	done, err := tr.wait(wctx, "instances ACTIVE", r.logf, func(c counts) bool { return c.Active == n })
	if err != nil {
		return t, fmt.Errorf("%w (controller log: %s)", err, logPath)
	}
	t.Seconds = round(done.Sub(start).Seconds(), 2)
	if profiling {
		if err := c.StopProfile(); err != nil {
			r.logf("cpu profile: %v", err)
		}
	}
	if q1, ok := controllerQueue(ctx, c); ok && hasQ {
		t.Queue = NewQueue(q1.Sub(q0), n)
	}
	api1, etcd1 := r.cpu()
	m1, _ := ReadCPUTimes()
	t.APIServerCPU, t.EtcdCPU = round(api1-api0, 2), round(etcd1-etcd0, 2)
	t.BusyCores = round(BusyCores(m0, m1, runtime.NumCPU()), 2)
	if profiling {
		path, _ := filepath.Abs(filepath.Join(r.o.ProfileDir, fmt.Sprintf("controller-%d-w%d.heap.pprof", n, workers)))
		if err := c.HeapProfile(path); err != nil {
			r.logf("heap profile: %v", err)
		}
	}
	if pid := c.Pid(); pid != 0 {
		if ps, err := ReadProc(pid); err == nil {
			t.Controller.CPUSecondsActive = round(ps.CPUSeconds-cpu0, 2)
			t.Controller.RSSAtActiveMiB = round(mib(ps.RSS), 1)
		}
	}
	r.logf("trellis N=%d workers=%d: all ACTIVE after %.2fs (creates took %.2fs)", n, workers, t.Seconds, t.CreatesSeconds)
	if quiet, ok := waitQuiet(ctx, c, quietLimit); ok {
		t.QuietSeconds = round(quiet.Sub(start).Seconds(), 2)
		r.logf("controller queue drained %.2fs after the first create", t.QuietSeconds)
	}
	time.Sleep(r.o.Settle)
	after, err := r.scrape(ctx)
	if err != nil {
		return t, err
	}
	t.WatchEventsPerInstance, t.WatchKiBPerInstance = r.scrapeWatch(ctx).perInstance(w0, n)
	w := after.Sub(before).Mutating().Resources(CountedResources...)
	t.Writes, t.WritesPerInstance, t.Breakdown = w.Total(), round(perInstance(w.Total(), n), 2), w.Breakdown()
	if hasCW {
		if cw1, ok := controllerWrites(ctx, c); ok {
			v := cw1 - cw0
			t.ControllerWrites = &v
		}
	}
	r.logf("trellis N=%d: %.2f writes/instance: %s", n, t.WritesPerInstance, summary(t.Breakdown, n))
	var frequent []Line // at least one request per hundred instances
	for _, l := range after.Sub(before).Breakdown() {
		if l.Count*100 >= float64(n) {
			frequent = append(frequent, l)
		}
	}
	r.logf("trellis N=%d: all requests per instance (reads included): %s", n, summary(frequent, n))

	if full && n == r.o.IdleN && r.o.Idle > 0 {
		r.logf("idle window: %s with %d instances ACTIVE", r.o.Idle, n)
		cwi0, _ := controllerWrites(ctx, c)
		time.Sleep(r.o.Idle)
		idleAfter, err := r.scrape(ctx)
		if err != nil {
			return t, err
		}
		all := idleAfter.Sub(after).Mutating()
		iw := all.Resources(CountedResources...)
		t.Idle = &Idle{Seconds: r.o.Idle.Seconds(), Writes: iw.Total(), WritesPerMin: round(iw.Total()/r.o.Idle.Minutes(), 1),
			AllWrites: all.Total(), Breakdown: iw.Breakdown(), OtherWrites: all.Without(CountedResources...).Breakdown()}
		if cwi1, ok := controllerWrites(ctx, c); ok && hasCW {
			v := cwi1 - cwi0
			t.Idle.ControllerRaw = &v
		}
		r.logf("idle: %.0f workload writes in %s (controller's own count: %s)", iw.Total(), r.o.Idle, opt(t.Idle.ControllerRaw, "%.0f"))
		after = idleAfter
	}

	if full {
		r.logf("RGD change: label %s=2 on the config template", ChangeLabel)
		start := time.Now()
		if err := r.applyRGD(ctx, "2"); err != nil {
			return t, err
		}
		done, err := tr.wait(wctx, "RGD change on all instances", r.logf, func(c counts) bool { return c.Labelled == n })
		if err != nil {
			return t, err
		}
		ch := &Change{Seconds: round(done.Sub(start).Seconds(), 2)}
		if quiet, ok := waitQuiet(ctx, c, quietLimit); ok {
			ch.QuietSeconds = round(quiet.Sub(start).Seconds(), 2)
		}
		time.Sleep(r.o.Settle)
		changed, err := r.scrape(ctx)
		if err != nil {
			return t, err
		}
		cw := changed.Sub(after).Mutating().Resources(CountedResources...)
		ch.Writes, ch.WritesPerInstance, ch.Breakdown = cw.Total(), round(perInstance(cw.Total(), n), 2), cw.Breakdown()
		t.Change = ch
		after = changed
		r.logf("RGD change reached %d instances in %.2fs, %.2f writes/instance", n, ch.Seconds, ch.WritesPerInstance)
	}

	start = time.Now()
	del := func(ctx context.Context, name string) error {
		err := r.dyn.Resource(benchGVR).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err := forEach(wctx, names, r.o.Concurrency, del); err != nil {
		return t, err
	}
	gone, err := tr.wait(wctx, "children gone", r.logf, func(c counts) bool { return c.Children == 0 })
	if err != nil {
		return t, err
	}
	instGone, err := tr.wait(wctx, "instances gone", r.logf, func(c counts) bool { return c.Instances == 0 })
	if err != nil {
		return t, err
	}
	d := &Delete{Seconds: round(gone.Sub(start).Seconds(), 2), InstancesGoneSeconds: round(instGone.Sub(start).Seconds(), 2)}
	waitQuiet(ctx, c, quietLimit)
	time.Sleep(r.o.Settle)
	if deleted, err := r.scrape(ctx); err == nil {
		dw := deleted.Sub(after).Mutating().Resources(CountedResources...)
		d.Writes, d.WritesPerInstance, d.Breakdown = dw.Total(), round(perInstance(dw.Total(), n), 2), dw.Breakdown()
	}
	t.Delete = d
	r.logf("deleted %d instances: children gone after %.2fs, instances after %.2fs", n, d.Seconds, d.InstancesGoneSeconds)

	if pid := c.Pid(); pid != 0 {
		if ps, err := ReadProc(pid); err == nil {
			t.Controller.PeakRSSMiB = round(mib(ps.PeakRSS), 1)
			t.Controller.CPUSecondsTotal = round(ps.CPUSeconds-cpu0, 2)
		}
	}
	return t, nil
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

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(raw), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				m.MemoryMiB = kb / 1024
			}
		}
	}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(raw)); len(f) > 0 {
			m.Load1 = f[0]
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.OS += " " + strings.TrimSpace(string(raw))
	}
	return m
}
