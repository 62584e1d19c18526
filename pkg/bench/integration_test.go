package bench_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/trellis-dev/trellis/pkg/bench"
	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{ControllerManager: true}))
}

// inProcess runs the controllers in the test process: no RSS/CPU figures,
// but no binary to build either.
type inProcess struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (p *inProcess) Pid() int                  { return 0 }
func (p *inProcess) MetricsURL() string        { return "" }
func (p *inProcess) StartProfile(string) error { return nil }
func (p *inProcess) StopProfile() error        { return nil }
func (p *inProcess) HeapProfile(string) error  { return nil }
func (p *inProcess) Stop() error               { p.cancel(); <-p.done; return nil }

// TestSmoke runs the whole benchmark once on N=5. It checks that every
// figure is produced and that the counts are plausible, never timings.
func TestSmoke(t *testing.T) {
	env := testenv.Current(t)
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel)))
	var log bytes.Buffer
	start := func(_ context.Context, _ string, workers int, _ string) (bench.Controller, error) {
		mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			// The restart phase starts a second manager in this process.
			Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		})
		if err != nil {
			return nil, err
		}
		if err := operator.Setup(mgr, operator.Options{InstanceWorkers: workers, RGDWorkers: 2, InstallCRDs: true}); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithCancel(context.Background())
		p := &inProcess{cancel: cancel, done: make(chan struct{})}
		go func() { defer close(p.done); _ = mgr.Start(ctx) }()
		return p, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := bench.Run(ctx, bench.Options{
		Ns: []int{5}, Workers: 2, IdleN: 5, Idle: 2 * time.Second, Settle: time.Second,
		// The --scale run as `--scale-floor=false` makes it: trellis alone.
		LargeN: 3, SkipLargeFloor: true,
		Controller: start, Cluster: env.Cluster, Timeout: 2 * time.Minute, Log: &log, LogDir: t.TempDir(),
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(rep.Runs) != 2 {
		t.Fatalf("runs = %+v", rep.Runs)
	}
	run := rep.Runs[0]
	if large := rep.Runs[1]; !large.Scale || large.N != 3 || large.Floor.Seconds != 0 || large.Trellis.Seconds <= 0 || large.Trellis.Delete == nil {
		t.Errorf("the floorless --scale run: %+v", large)
	}
	for _, tg := range rep.Targets {
		if strings.HasPrefix(tg.Name, "time ratio at N=3") {
			t.Errorf("the floorless --scale run has a ratio target: %+v", tg)
		}
	}
	// The floor does exactly 7 writes per instance: instance, 5 children, status.
	if run.Floor.WritesPerInstance != 7 {
		t.Errorf("floor writes per instance = %v, want 7: %+v", run.Floor.WritesPerInstance, run.Floor.Breakdown)
	}
	tr := run.Trellis
	// At least the user's create and one write per child.
	if tr.WritesPerInstance < 6 {
		t.Errorf("trellis writes per instance = %v: %+v", tr.WritesPerInstance, tr.Breakdown)
	}
	if run.Floor.Seconds <= 0 || tr.Seconds <= 0 || run.Ratio <= 0 {
		t.Errorf("missing timings: %+v", run)
	}
	if tr.Idle == nil || tr.Change == nil || tr.Delete == nil {
		t.Fatalf("idle/change/delete missing: %+v", tr)
	}
	if tr.Change.Writes < 5 {
		t.Errorf("RGD change: %v writes, want at least one per instance", tr.Change.Writes)
	}
	// A restart writes nothing; one with the RGD changed while the
	// controller was down writes each instance's changed config and its
	// status (status.graphRevision moves), once.
	if tr.Restart == nil || tr.RestartChanged == nil {
		t.Fatalf("restart phases missing: %+v", tr)
	}
	if tr.Restart.Writes != 0 || tr.Restart.CRDWrites != 0 {
		t.Errorf("restart wrote %v workload objects and %v CRDs: %+v %+v", tr.Restart.Writes, tr.Restart.CRDWrites, tr.Restart.Breakdown, tr.Restart.OtherWrites)
	}
	if got := tr.RestartChanged.Breakdown; tr.RestartChanged.Writes != 2*5 || len(got) != 2 {
		t.Errorf("restart with the RGD changed: %v writes, want 10 (5 configs, 5 statuses): %+v", tr.RestartChanged.Writes, got)
	}
	// The user's DELETE, one per child and the finalizer's release: no
	// status write while every child's DELETE removes it at once.
	if tr.Delete.Writes != 5*7 {
		t.Errorf("delete: %v writes, want 35 (7 per instance): %+v", tr.Delete.Writes, tr.Delete.Breakdown)
	}
	// The deletion's CPU is read from the API server's process, for the
	// floor and for trellis (the controller's 5 deletions may round to 0).
	if c := tr.Delete.CPU; c == nil || c.APIServer <= 0 || c.Controller < 0 {
		t.Errorf("trellis deletion CPU: %+v", c)
	}
	if c := run.Floor.DeleteCPU; c == nil || c.APIServer <= 0 {
		t.Errorf("floor deletion CPU: %+v", c)
	}
	t.Log(log.String())
	md := rep.Markdown()
	if !strings.Contains(md, "| 5 |") || len(rep.Targets) == 0 {
		t.Errorf("report:\n%s", md)
	}
}
