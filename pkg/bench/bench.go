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
	"os"
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

// EventResource is counted on its own row: Events are written by trellis
// (and by any other component of the cluster: the counter cannot tell
// them apart) and are not part of the workload's writes.
const EventResource = "events"

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
	// LargeN, if set, adds one run at that N (--scale: 20,000) after Ns:
	// floor and trellis creation, controller memory and deletion, no idle,
	// restart or RGD change.
	LargeN int
	// SkipLargeFloor leaves the floor out of the LargeN run: trellis's
	// memory, goroutines and time at that N, without the time ratio (the
	// floor alone takes about half an hour at 20,000 on 2 cores).
	SkipLargeFloor bool
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
	// ControllerArgs and ControllerEnv are the extra flags and environment
	// the controller was started with, recorded in the report's settings.
	ControllerArgs, ControllerEnv []string
	// Cluster to run on; nil starts a fresh local control plane
	// (etcd, kube-apiserver, kube-controller-manager) and stops it at the end.
	Cluster *localcluster.Cluster
	// Timeout bounds every wait (default 30 minutes).
	Timeout time.Duration
	// Version is the trellis version reported.
	Version string
	// Log receives progress (default stderr).
	Log io.Writer
	// FeatureGates of the local kube-apiserver (e.g. ShardedListAndWatch).
	FeatureGates map[string]bool
	// Graphs runs the big-graph phase (issue 18) after the others: a
	// DeepApp (40 children in 6 levels) on GraphsDeepN instances and a
	// FanoutApp (forEach of 200) on GraphsFanoutN; 0 skips either.
	Graphs                     bool
	GraphsDeepN, GraphsFanoutN int
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
// With OutDir the report is rewritten after every phase, marked unfinished,
// so a long run that is stopped or fails keeps what it measured.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	o.defaults()
	if o.Controller == nil {
		return nil, fmt.Errorf("bench: no controller to start")
	}
	r := &runner{o: o, cluster: o.Cluster}
	rep = &Report{Date: time.Now().UTC(), Machine: machine(), Kubernetes: localcluster.KubernetesVersion, Trellis: o.Version,
		Settings: Settings{
			Ns: o.Ns, Workers: o.Workers, Concurrency: o.Concurrency, ClientQPS: o.QPS, ClientBurst: o.Burst,
			IdleN: o.IdleN, IdleSeconds: o.Idle.Seconds(), SettleSeconds: o.Settle.Seconds(),
			ScaleN: o.ScaleN, ScaleWorkers: o.ScaleWorkers, CountedResource: CountedResources, Repeat: o.Repeat,
			ControllerArgs: o.ControllerArgs, ControllerEnv: o.ControllerEnv,
		}}
	checkpoint := func(unfinished string) {
		rep.WallSeconds = round(time.Since(rep.Date).Seconds(), 1)
		rep.Unfinished = unfinished
		rep.EvaluateTargets()
		if o.OutDir == "" {
			return
		}
		if path, werr := rep.Write(o.OutDir); werr != nil {
			r.logf("writing the report: %v", werr)
		} else if unfinished == "" {
			r.logf("wrote %s", path)
		}
	}
	defer func() {
		if err != nil && rep != nil {
			checkpoint("stopped by an error: " + err.Error())
		}
	}()
	if r.cluster == nil {
		r.logf("starting a local control plane (etcd, kube-apiserver, kube-controller-manager)")
		c, err := localcluster.Start(ctx, localcluster.Options{ControllerManager: true, Profiling: o.ProfileDir != "", Log: o.Log, FeatureGates: o.FeatureGates})
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
	sizes := o.Ns
	if o.LargeN > 0 {
		sizes = append(append([]int(nil), o.Ns...), o.LargeN)
	}
	for i, n := range sizes {
		if n <= 0 {
			continue // -n 0: only the other phases
		}
		// The --scale run: creation, memory and deletion, once.
		large := i == len(o.Ns)
		run := Row{N: n, Scale: large}
		if large && o.SkipLargeFloor {
			r.logf("N=%d: the floor is skipped (--scale-floor=false), so is the time ratio", n)
		} else if run.Floor, err = r.floor(ctx, n, false, o.Concurrency); err != nil {
			return rep, fmt.Errorf("floor N=%d: %w", n, err)
		}
		if o.FloorApply {
			fa, err := r.floor(ctx, n, true, o.Concurrency)
			if err != nil {
				return rep, fmt.Errorf("floor (apply) N=%d: %w", n, err)
			}
			run.FloorApply = &fa
		}
		if run.Trellis, err = r.trellis(ctx, n, o.Workers, !large); err != nil {
			return rep, fmt.Errorf("trellis N=%d: %w", n, err)
		}
		run.Pairs = append(run.Pairs, pairOf(run.Floor, run.Trellis))
		for i := 1; i < o.Repeat && !large; i++ {
			f, err := r.floor(ctx, n, false, o.Concurrency)
			if err != nil {
				return rep, fmt.Errorf("floor N=%d (repetition %d): %w", n, i+1, err)
			}
			t, err := r.trellis(ctx, n, o.Workers, false)
			if err != nil {
				return rep, fmt.Errorf("trellis N=%d (repetition %d): %w", n, i+1, err)
			}
			run.Pairs = append(run.Pairs, pairOf(f, t))
		}
		run.Summarize()
		rep.Runs = append(rep.Runs, run)
		checkpoint(fmt.Sprintf("running, N=%d done", n))
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
		checkpoint("running, the worker comparison done")
	}
	if o.Graphs {
		rep.Graphs, err = r.graphs(ctx)
		if err != nil {
			return rep, err
		}
	}
	checkpoint("")
	return rep, nil
}

func instanceNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("app-%05d", i)
	}
	return out
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
// controller's clean-up does not overlap the next phase. After an interrupt
// (ctx done) the delete is still sent, so no namespace is left behind, but
// nothing waits for it: the run is over.
func (r *runner) dropNamespace(ctx context.Context, ns string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := r.kube.CoreV1().Namespaces().Delete(dctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		r.logf("delete namespace %s: %v", ns, err)
		return
	}
	if ctx.Err() != nil {
		r.logf("interrupted: namespace %s is being deleted; not waiting for it", ns)
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
