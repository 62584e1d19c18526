package chaos

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"net/http"
	"strings"
	"time"

	"github.com/trellis-dev/trellis/pkg/bench"
)

// phase is one user action (a rollout, an RGD change, a deletion) with at
// most one fault during it.
type phase struct {
	scenario, name string
	seed           int64
	ns             string
	// instances is the workload's size; want are the instances that must
	// be ACTIVE afterwards (nil: all gone) and label what their config
	// must carry (an RGD change).
	instances int
	want      []string
	label     string
	act       func(ctx context.Context) error
	// faultAt is when fault runs, counted from the phase's start.
	faultAt time.Duration
	fault   func(ctx context.Context) (note string, err error)
	// report adds to the note from the phase's apiserver requests.
	report func(reqs bench.Requests) string
	// apiserverRestarts: the fault restarts kube-apiserver, whose counters
	// then start from zero and miss the writes of its last moments; the
	// writes are the controller's own count instead (plus one create per
	// instance, the user's).
	apiserverRestarts bool
}

// run performs the phase and checks its end state.
func (r *runner) run(ctx context.Context, p phase) Row {
	row := Row{Scenario: p.scenario, Phase: p.name, Seed: p.seed, Instances: p.instances}
	var notes []string
	fail := func(err error) {
		if row.Err == "" {
			row.Err = err.Error()
		} else {
			row.Err += "; " + err.Error()
		}
	}
	if err := r.meter.start(ctx); err != nil {
		fail(err)
		return r.record(row)
	}
	ctrlWrites0, hasCtrlWrites := controllerWrites(ctx, r.ctrl)
	start := time.Now()
	acted := make(chan error, 1)
	go func() { acted <- p.act(ctx) }()
	if p.fault != nil {
		select {
		case <-ctx.Done():
		case <-time.After(p.faultAt):
		}
		row.FaultAfter = round1(time.Since(start).Seconds())
		r.logf("%s/%s: fault after %.1fs", p.scenario, p.name, row.FaultAfter)
		note, err := p.fault(ctx)
		if note != "" {
			notes = append(notes, note)
		}
		if err != nil {
			fail(fmt.Errorf("fault: %w", err))
		}
	}
	if err := <-acted; err != nil {
		fail(fmt.Errorf("%s: %w", p.name, err))
	}
	took, err := r.waitState(ctx, p.ns, p.want, p.label, start, r.o.Timeout)
	row.Converge = round1(took.Seconds())
	if err != nil {
		fail(err)
	}
	r.logf("%s/%s: converged after %.1fs", p.scenario, p.name, row.Converge)
	time.Sleep(r.o.Settle)
	var insts, children []object
	err = retry(ctx, time.Minute, func() (err error) { insts, children, err = r.list(ctx, p.ns, true); return err })
	if err != nil {
		fail(fmt.Errorf("list: %w", err))
	} else {
		f := checkWorkload(p.want, p.label, insts, children)
		row.Lost, row.Duplicates, row.Orphans, row.Finalizers = f.Lost, f.Duplicates, f.Orphans, f.Finalizers
		notes = append(notes, f.Examples...)
	}
	if reqs, err := r.meter.total(ctx); err != nil {
		fail(err)
	} else {
		w := reqs.Mutating().Resources(workloadRes...).Total()
		if p.apiserverRestarts {
			w = math.NaN()
			if cw, ok := controllerWrites(ctx, r.ctrl); ok && hasCtrlWrites {
				w = cw - ctrlWrites0 + float64(p.instances)
				notes = append(notes, "writes: the controller's count + 1 create per instance")
			}
		}
		row.WritesPerInstance = round2(w / float64(max(p.instances, 1)))
		notes = append(notes, fmt.Sprintf("%.0f LISTs", lists(reqs)))
		if p.report != nil {
			notes = append(notes, p.report(reqs))
		}
	}
	if b, ok := r.baseline[p.name]; ok && p.scenario != "baseline" {
		row.Extra = round2(row.WritesPerInstance - b.writesPerInstance)
	}
	if p.scenario == "baseline" && row.Err == "" {
		r.baseline[p.name] = phaseFigures{seconds: row.Converge, writesPerInstance: row.WritesPerInstance}
	}
	row.Note = strings.Join(notes, "; ")
	return r.record(row)
}

// controllerWrites reads the controller's own count of the writes an
// apiserver answered (client-go's rest_client_requests_total; events
// included).
func controllerWrites(ctx context.Context, c bench.Controller) (float64, bool) {
	if c == nil || c.MetricsURL() == "" {
		return 0, false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.MetricsURL(), nil)
	if err != nil {
		return 0, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	samples, err := bench.ParseMetric(resp.Body, "rest_client_requests_total")
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	// Attempts that never reached an apiserver (code "<error>": refused
	// while it was away) are no writes.
	var reached []bench.Sample
	for _, s := range samples {
		if s.Labels["code"] != "<error>" {
			reached = append(reached, s)
		}
	}
	return bench.ClientWrites(reached), true
}

func (r *runner) record(row Row) Row {
	r.rep.Rows = append(r.rep.Rows, row)
	status := "ok"
	if !row.OK() {
		status = "FAILED"
	}
	r.logf("%s/%s %s: lost %d, duplicates %d, orphans %d, finalizers %d, writes/inst %.2f (%+.2f) %s %s", row.Scenario, row.Phase, status,
		row.Lost, row.Duplicates, row.Orphans, row.Finalizers, row.WritesPerInstance, row.Extra, row.Note, row.Err)
	return row
}

// lists counts the LISTs of the workload's resources (a relist storm shows here).
func lists(reqs bench.Requests) float64 {
	var n float64
	for k, v := range reqs.Resources(workloadRes...) {
		if k.Verb == "LIST" {
			n += v
		}
	}
	return n
}

// randomPoint picks when a fault hits: 10–90 % into the baseline's
// duration of the phase.
func (r *runner) randomPoint(rng *rand.Rand, phase string) time.Duration {
	secs := 10.0
	if b, ok := r.baseline[phase]; ok && b.seconds > 0 {
		secs = b.seconds
	}
	return time.Duration((0.1 + 0.8*rng.Float64()) * secs * float64(time.Second))
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
func round2(v float64) float64 {
	if v < 0 {
		return -round2(-v)
	}
	return float64(int64(v*100+0.5)) / 100
}
