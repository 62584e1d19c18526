package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// phase is the state the steps of one full trellis phase share once all N
// instances are ACTIVE: the namespace, its tracker, the running controller
// (a restart replaces it) and the latest apiserver scrape, from which the
// next step counts its writes.
type phase struct {
	n, workers int
	ns         string
	names      []string
	tr         *tracker
	wctx       context.Context
	c          Controller
	logPath    string
	after      Requests
	hasCW      bool
	// cpu0 is the current controller process's CPU seconds at the first
	// create (0 for a process started later); cpuDone and peakRSS add up
	// the processes retired so far.
	cpu0             float64
	cpuDone, peakRSS float64
}

// resetPeakRSS books the current process's peak RSS so far and starts its
// VmHWM again, so that the next phase's own peak can be read.
func (p *phase) resetPeakRSS() {
	pid := p.c.Pid()
	if pid == 0 {
		return
	}
	if ps, err := ReadProc(pid); err == nil {
		p.peakRSS = max(p.peakRSS, mib(ps.PeakRSS))
	}
	_ = ResetPeakRSS(pid)
}

// retire books the current controller process's CPU and peak RSS.
func (p *phase) retire() {
	if pid := p.c.Pid(); pid != 0 {
		if ps, err := ReadProc(pid); err == nil {
			p.cpuDone += ps.CPUSeconds - p.cpu0
			p.peakRSS = max(p.peakRSS, mib(ps.PeakRSS))
		}
	}
	p.cpu0 = 0
}

// processCPU is the controller process's CPU seconds so far.
func processCPU(c Controller) (float64, bool) {
	if pid := c.Pid(); pid != 0 {
		if ps, err := ReadProc(pid); err == nil {
			return ps.CPUSeconds, true
		}
	}
	return 0, false
}

// countSince scrapes the apiserver and returns the workload's writes since
// the previous step; the scrape becomes the next step's start.
func (r *runner) countSince(ctx context.Context, p *phase) (Requests, error) {
	now, err := r.scrape(ctx)
	if err != nil {
		return nil, err
	}
	d := now.Sub(p.after).Mutating()
	p.after = now
	return d, nil
}

// idle counts the writes of a window in which nothing changes.
func (r *runner) idle(ctx context.Context, p *phase) (*Idle, error) {
	r.logf("idle window: %s with %d instances ACTIVE", r.o.Idle, p.n)
	cwi0, _ := controllerWrites(ctx, p.c)
	cpu0, hasCPU := processCPU(p.c)
	time.Sleep(r.o.Idle)
	cpu1, _ := processCPU(p.c)
	all, err := r.countSince(ctx, p)
	if err != nil {
		return nil, err
	}
	iw := all.Resources(CountedResources...)
	idle := &Idle{Seconds: r.o.Idle.Seconds(), Writes: iw.Total(), WritesPerMin: round(iw.Total()/r.o.Idle.Minutes(), 1),
		AllWrites: all.Total(), Breakdown: iw.Breakdown(), OtherWrites: all.Without(CountedResources...).Breakdown()}
	idle.EventWrites = all.Resources(EventResource).Total()
	if hasCPU {
		idle.ControllerCPUPercent = round((cpu1-cpu0)/r.o.Idle.Seconds()*100, 2)
	}
	if cwi1, ok := controllerWrites(ctx, p.c); ok && p.hasCW {
		v := cwi1 - cwi0
		idle.ControllerRaw = &v
	}
	r.logf("idle: %.0f workload writes in %s (controller's own count: %s), controller CPU %.2f%% of a core", iw.Total(), r.o.Idle, opt(idle.ControllerRaw, "%.0f"), idle.ControllerCPUPercent)
	return idle, nil
}

// change applies the RGD with ChangeLabel=rev on the config template and
// waits until every instance's config carries it.
func (r *runner) change(ctx context.Context, p *phase, rev string) (*Change, error) {
	r.logf("RGD change: label %s=%s on the config template", ChangeLabel, rev)
	p.tr.expectLabel(ChangeLabel + "=" + rev)
	start := time.Now()
	if err := r.applyRGD(ctx, rev); err != nil {
		return nil, err
	}
	done, err := p.tr.wait(p.wctx, "RGD change on all instances", r.logf, func(c counts) bool { return c.Labelled == p.n })
	if err != nil {
		return nil, err
	}
	ch := &Change{Seconds: round(done.Sub(start).Seconds(), 2)}
	if quiet, ok := waitQuiet(ctx, p.c, quietLimit); ok {
		ch.QuietSeconds = round(quiet.Sub(start).Seconds(), 2)
	}
	time.Sleep(r.o.Settle)
	d, err := r.countSince(ctx, p)
	if err != nil {
		return nil, err
	}
	cw := d.Resources(CountedResources...)
	ch.Writes, ch.WritesPerInstance, ch.Breakdown = cw.Total(), round(perInstance(cw.Total(), p.n), 2), cw.Breakdown()
	r.logf("RGD change reached %d instances in %.2fs, %.2f writes/instance", p.n, ch.Seconds, ch.WritesPerInstance)
	return ch, nil
}

// deletion deletes every instance (the user's DELETEs, with the floor's
// concurrency) and waits until the children and the instances are gone.
func (r *runner) deletion(ctx context.Context, p *phase) (*Delete, error) {
	cpu := r.markCPU(p.c)
	apiProfile := r.apiserverProfile(ctx, "apiserver-delete-"+p.ns, profileSeconds)
	defer apiProfile()
	stopProfile := r.controllerProfile(p.c, fmt.Sprintf("controller-%d-w%d-delete.cpu.pprof", p.n, p.workers))
	p.resetPeakRSS()
	children := p.tr.counts().Children
	start := time.Now()
	del := func(ctx context.Context, name string) error {
		err := r.dyn.Resource(benchGVR).Namespace(p.ns).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if err := forEach(p.wctx, p.names, r.o.Concurrency, del); err != nil {
		return nil, err
	}
	if r.o.ProfileDir != "" {
		// Half way: what the deletion itself holds, beside caches that
		// still hold half the objects.
		if _, err := p.tr.wait(p.wctx, "half the children gone", r.logf, func(c counts) bool { return c.Children <= children/2 }); err != nil {
			return nil, err
		}
		path, _ := filepath.Abs(filepath.Join(r.o.ProfileDir, fmt.Sprintf("controller-%d-w%d-delete.heap.pprof", p.n, p.workers)))
		if err := p.c.HeapProfile(path); err != nil {
			r.logf("heap profile: %v", err)
		}
	}
	gone, err := p.tr.wait(p.wctx, "children gone", r.logf, func(c counts) bool { return c.Children == 0 })
	if err != nil {
		return nil, err
	}
	instGone, err := p.tr.wait(p.wctx, "instances gone", r.logf, func(c counts) bool { return c.Instances == 0 })
	if err != nil {
		return nil, err
	}
	d := &Delete{Seconds: round(gone.Sub(start).Seconds(), 2), InstancesGoneSeconds: round(instGone.Sub(start).Seconds(), 2), CPU: r.cpuSince(cpu)}
	if pid := p.c.Pid(); pid != 0 {
		if ps, err := ReadProc(pid); err == nil {
			d.ControllerPeakRSSMiB = round(mib(ps.PeakRSS), 1)
		}
	}
	stopProfile()
	waitQuiet(ctx, p.c, quietLimit)
	time.Sleep(r.o.Settle)
	if dw, err := r.countSince(ctx, p); err == nil {
		dw = dw.Resources(CountedResources...)
		d.Writes, d.WritesPerInstance, d.Breakdown = dw.Total(), round(perInstance(dw.Total(), p.n), 2), dw.Breakdown()
	}
	r.logf("deleted %d instances: children gone after %.2fs, instances after %.2fs; CPU s apiserver %.1f, etcd %.1f, controller %.1f; controller peak RSS %.1f MiB",
		p.n, d.Seconds, d.InstancesGoneSeconds, d.CPU.APIServer, d.CPU.Etcd, d.CPU.Controller, d.ControllerPeakRSSMiB)
	return d, nil
}
