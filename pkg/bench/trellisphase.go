// The trellis phase: a controller process, the benchmark RGD, N BenchApps
// to ACTIVE, then (on a full run) idle, RGD change and deletion.

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/trellis-dev/trellis/pkg/admission"
)

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

// waitAdmissionBinding waits (a minute at most) for the policy that stamps
// new BenchApps at admission: trellis binds it only once the API server
// has had time to learn the kind, and a running controller has long done so.
func (r *runner) waitAdmissionBinding(ctx context.Context) {
	r.waitAdmissionBindingOf(ctx, r.rgd.GetName())
}

// waitAdmissionBindingOf waits for the binding of the RGD named rgdName.
func (r *runner) waitAdmissionBindingOf(ctx context.Context, rgdName string) {
	name := admission.PolicyName(rgdName)
	bindings := r.kube.AdmissionregistrationV1().MutatingAdmissionPolicyBindings()
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := bindings.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) && !r.servesAdmissionPolicies(ctx) {
			return true, nil // nothing to wait for: the controller patches instead
		}
		return err == nil, nil
	})
	if err != nil {
		r.logf("no MutatingAdmissionPolicyBinding %s after a minute: new instances cost the controller a metadata patch", name)
	}
}

func (r *runner) servesAdmissionPolicies(ctx context.Context) bool {
	_, err := r.kube.AdmissionregistrationV1().MutatingAdmissionPolicies().List(ctx, metav1.ListOptions{Limit: 1})
	return !apierrors.IsNotFound(err)
}

// warmup brings one instance to ACTIVE and deletes it again, so the
// controller has registered the kind and started its informers before the
// measured phase (a running controller is warm).
func (r *runner) warmup(ctx context.Context) error {
	ns, err := r.warmupNamespace(ctx)
	if err != nil {
		return err
	}
	r.waitAdmissionBinding(ctx)
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
	p := &phase{n: n, workers: workers, ns: ns, c: c, logPath: logPath}
	defer func() { p.c.Stop() }() // a restart replaces p.c
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
	defer r.dropNamespace(ctx, ns)
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
	t.Controller.Goroutines, _ = controllerGauge(ctx, c, "go_goroutines")
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
	ev := after.Sub(before).Mutating().Resources(EventResource).Total()
	t.EventWrites, t.EventWritesPerInstance = ev, round(perInstance(ev, n), 2)
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

	p.names, p.tr, p.wctx, p.after, p.hasCW, p.cpu0 = names, tr, wctx, after, hasCW, cpu0
	if full && n == r.o.IdleN && r.o.Idle > 0 {
		if t.Idle, err = r.idle(ctx, p); err != nil {
			return t, err
		}
	}
	if full {
		if t.Restart, err = r.restart(ctx, p, ""); err != nil {
			return t, fmt.Errorf("restart: %w", err)
		}
		if t.RestartChanged, err = r.restart(ctx, p, "2"); err != nil {
			return t, fmt.Errorf("restart with a changed RGD: %w", err)
		}
		if t.Change, err = r.change(ctx, p, "3"); err != nil {
			return t, err
		}
	}
	if t.Delete, err = r.deletion(ctx, p); err != nil {
		return t, err
	}
	p.retire()
	t.Controller.PeakRSSMiB, t.Controller.CPUSecondsTotal = round(p.peakRSS, 1), round(p.cpuDone, 2)
	withReplicaUse(&t, p.c)
	return t, nil
}
