package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Restart is stopping the controller while every instance is ACTIVE and
// starting a new process: how long until it has seen every instance and
// gone quiet, and what it wrote meanwhile.
type Restart struct {
	// RGDChanged: the config template got a new label while the controller
	// was down; the goal is then exactly one write per instance (its config).
	RGDChanged bool `json:"rgd_changed"`
	// SyncSeconds is the floor of any restart: a fresh client (in the
	// benchmark process) listing the instances and the four child kinds
	// of the namespace and syncing informers on them.
	SyncSeconds float64 `json:"floor_sync_seconds"`
	// ReadySeconds: process start → the controller's /readyz answers.
	ReadySeconds float64 `json:"ready_seconds"`
	// SettledSeconds: process start → the new process has reconciled every
	// instance at least once and its queue is empty (with RGDChanged, also
	// every config relabelled). 0 when the controller has no metrics.
	SettledSeconds float64 `json:"settled_seconds"`
	// FirstReconcileSeconds: process start → the first instance reconcile
	// finished (graph built, informers listed); the rest of SettledSeconds
	// is reconciling every instance.
	FirstReconcileSeconds float64 `json:"first_reconcile_seconds"`
	// Reconciles the new process made until settled, per instance.
	ReconcilesPerInstance float64 `json:"reconciles_per_instance"`
	// Writes are the workload's writes from the start to settled + settle.
	Writes            float64 `json:"writes"`
	WritesPerInstance float64 `json:"writes_per_instance"`
	Breakdown         []Line  `json:"breakdown"`
	// CRDWrites: writes of CustomResourceDefinitions meanwhile (the BenchApp
	// CRD the controller generates; nothing else writes CRDs here).
	CRDWrites float64 `json:"crd_writes"`
	// OtherWrites: every other write meanwhile but leases and events (the
	// cluster's heartbeats), so a write outside the workload shows too.
	OtherWrites []Line `json:"other_writes,omitempty"`
	// CPUSeconds and PeakRSSMiB of the new process until settled.
	CPUSeconds float64 `json:"controller_cpu_seconds"`
	PeakRSSMiB float64 `json:"controller_peak_rss_mib"`
}

// restart stops the controller, with rev != "" applies the RGD with
// ChangeLabel=rev meanwhile, and starts a new controller process, which
// replaces p.c.
func (r *runner) restart(ctx context.Context, p *phase, rev string) (*Restart, error) {
	res := &Restart{RGDChanged: rev != ""}
	r.logf("restart with %d instances ACTIVE (RGD changed while down: %v)", p.n, res.RGDChanged)
	p.retire()
	if err := p.c.Stop(); err != nil {
		return nil, err
	}
	if rev != "" {
		p.tr.expectLabel(ChangeLabel + "=" + rev)
		if err := r.applyRGD(ctx, rev); err != nil {
			return nil, err
		}
	}
	t0 := time.Now()
	floor, err := newTracker(ctx, r.dyn, p.ns, benchGVR, nil, "")
	if err != nil {
		return nil, err
	}
	res.SyncSeconds = round(time.Since(t0).Seconds(), 2)
	floor.stop()
	if _, err := r.countSince(ctx, p); err != nil { // the writes count from here
		return nil, err
	}

	kind := "restart"
	if rev != "" {
		kind = "restart-changed"
	}
	logPath := filepath.Join(r.o.LogDir, fmt.Sprintf("controller-%d-w%d-%s.log", p.n, p.workers, kind))
	start := time.Now()
	c, err := r.o.Controller(ctx, r.cluster.Kubeconfig, p.workers, logPath)
	if err != nil {
		return nil, err
	}
	p.c, p.logPath = c, logPath
	res.ReadySeconds = round(time.Since(start).Seconds(), 2)
	stopProfile := r.controllerProfile(c, fmt.Sprintf("controller-%d-w%d-%s.cpu.pprof", p.n, p.workers, kind))
	st, ok := waitSettled(ctx, c, p.n, quietLimit)
	stopProfile()
	if ok {
		res.SettledSeconds = round(st.settled.Sub(start).Seconds(), 2)
		res.FirstReconcileSeconds = round(st.first.Sub(start).Seconds(), 2)
		res.ReconcilesPerInstance = round(perInstance(st.reconciles, p.n), 2)
	} else if c.MetricsURL() != "" {
		r.logf("the restarted controller did not settle within %s (log: %s)", quietLimit, logPath)
	}
	if rev != "" {
		if _, err := p.tr.wait(p.wctx, "RGD change on all instances after the restart", r.logf, func(c counts) bool { return c.Labelled == p.n }); err != nil {
			return nil, fmt.Errorf("%w (controller log: %s)", err, logPath)
		}
	}
	if pid := c.Pid(); pid != 0 {
		if ps, err := ReadProc(pid); err == nil {
			res.CPUSeconds, res.PeakRSSMiB = round(ps.CPUSeconds, 2), round(mib(ps.PeakRSS), 1)
		}
	}
	time.Sleep(r.o.Settle)
	d, err := r.countSince(ctx, p)
	if err != nil {
		return nil, err
	}
	w := d.Resources(CountedResources...)
	res.Writes, res.WritesPerInstance, res.Breakdown = w.Total(), round(perInstance(w.Total(), p.n), 2), w.Breakdown()
	res.CRDWrites = d.Resources("customresourcedefinitions").Total()
	res.OtherWrites = d.Without(append([]string{"leases", EventResource}, CountedResources...)...).Breakdown()
	r.logf("restart: ready after %.2fs, first reconcile after %.2fs, settled after %.2fs (floor list+sync %.2fs), %.0f workload writes (%s); other writes: %s",
		res.ReadySeconds, res.FirstReconcileSeconds, res.SettledSeconds, res.SyncSeconds, res.Writes, summary(res.Breakdown, p.n), summary(res.OtherWrites, 1))
	return res, nil
}

// controllerProfile starts a CPU profile of the controller when
// --profile-dir is set and returns what stops it: a restarted controller
// from ready to settled (graph build, informer lists and the reconciles
// that find nothing to do), and the deletion phase.
func (r *runner) controllerProfile(c Controller, name string) func() {
	if r.o.ProfileDir == "" {
		return func() {}
	}
	path, _ := filepath.Abs(filepath.Join(r.o.ProfileDir, name))
	if err := os.MkdirAll(r.o.ProfileDir, 0o755); err != nil {
		r.logf("cpu profile: %v", err)
		return func() {}
	}
	if err := c.StartProfile(path); err != nil {
		r.logf("cpu profile: %v", err)
		return func() {}
	}
	return func() {
		if err := c.StopProfile(); err != nil {
			r.logf("cpu profile: %v", err)
		}
	}
}

// reconcilesOf reads instance_reconcile_total for the instance resource.
func reconcilesOf(ctx context.Context, c Controller, resource string) (float64, bool) {
	body, ok := scrape(ctx, c)
	if !ok {
		return 0, false
	}
	return reconcilesIn(body, resource)
}

// reconcilesIn reads instance_reconcile_total for the instance resource
// from a scrape (the process's own count, from 0 at its start).
func reconcilesIn(body, resource string) (float64, bool) {
	samples, err := ParseMetric(strings.NewReader(body), "instance_reconcile_total")
	if err != nil {
		return 0, false
	}
	var n float64
	for _, s := range samples {
		if strings.Contains(s.Labels["gvr"], resource) {
			n += s.Value
		}
	}
	return n, true
}

// settling is when a restarted controller first reconciled an instance and
// when it settled, with its reconcile count then.
type settling struct {
	first, settled time.Time
	reconciles     float64
}

// waitSettled waits until the controller has reconciled at least n
// instances and its queue is empty and idle on two polls in a row, 100 ms
// apart; settled is the first of those polls.
func waitSettled(ctx context.Context, c Controller, n int, limit time.Duration) (settling, bool) {
	var st settling
	if c.MetricsURL() == "" {
		return st, false
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		now := time.Now()
		// One scrape per poll: both figures come from the same moment, and
		// the measured controller serves half as many.
		body, ok := scrape(ctx, c)
		recs, ok1 := reconcilesIn(body, benchGVR.Resource)
		q, ok2 := instanceQueue(body)
		ok1, ok2 = ok1 && ok, ok2 && ok
		if ok1 && recs > 0 && st.first.IsZero() {
			st.first = now
		}
		switch {
		case !ok1 || !ok2:
			st.settled = time.Time{}
		case recs >= float64(n) && q.Depth == 0 && q.Unfinished == 0:
			if !st.settled.IsZero() {
				st.reconciles = recs
				return st, true
			}
			st.settled = now
		default:
			st.settled = time.Time{}
		}
		select {
		case <-ctx.Done():
			return st, false
		case <-time.After(100 * time.Millisecond):
		}
	}
	return st, false
}
