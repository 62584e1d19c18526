package bench

import (
	"context"
	"fmt"
	"time"
)

// floor runs one floor phase in its own namespace: create what N BenchApps
// expand to with a plain client, count the writes, then delete it all.
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
	defer r.dropNamespace(ctx, ns)
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
	createCPU := r.markCPU(nil)
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
	used := r.cpuSince(createCPU)
	f.APIServerCPU, f.EtcdCPU, f.BusyCores = used.APIServer, used.Etcd, used.BusyCores
	time.Sleep(r.o.Settle)
	after, err := r.scrape(ctx)
	if err != nil {
		return f, err
	}
	f.WatchEventsPerInstance, f.WatchKiBPerInstance = r.scrapeWatch(ctx).perInstance(w0, n)
	w := after.Sub(before).Mutating().Resources(CountedResources...)
	f.Writes, f.WritesPerInstance, f.Breakdown = w.Total(), round(perInstance(w.Total(), n), 2), w.Breakdown()
	r.logf("%s N=%d: %.2fs, %.2f writes/instance", what, n, f.Seconds, f.WritesPerInstance)

	if !apply {
		// The RGD change's floor: the same label put on every config
		// ConfigMap by a plain client, one merge patch each.
		tr.expectLabel(ChangeLabel + "=floor")
		start = time.Now()
		if err := forEach(wctx, names, concurrency, fc.labelConfig); err != nil {
			return f, err
		}
		done, err := tr.wait(wctx, "floor change on all configs", r.logf, func(c counts) bool { return c.Labelled == n })
		if err != nil {
			return f, err
		}
		f.ChangeSeconds = round(done.Sub(start).Seconds(), 2)
		r.logf("%s N=%d: the change's label on every config in %.2fs", what, n, f.ChangeSeconds)
	}

	deleteCPU := r.markCPU(nil)
	deleteProfile := r.apiserverProfile(ctx, "apiserver-delete-"+ns, profileSeconds)
	defer deleteProfile()
	start = time.Now()
	if err := forEach(wctx, names, concurrency, fc.deleteOne); err != nil {
		return f, err
	}
	done, err = tr.wait(wctx, "floor objects gone", r.logf, func(c counts) bool { return c.Children == 0 && c.Instances == 0 })
	if err != nil {
		return f, err
	}
	f.DeleteSeconds = round(done.Sub(start).Seconds(), 2)
	f.DeleteCPU = r.cpuSince(deleteCPU)
	return f, nil
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
