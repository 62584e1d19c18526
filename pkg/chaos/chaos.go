// Package chaos runs faults against a live trellis workload on a local
// control plane and checks the end state after each (issue 16): the
// controller SIGKILLed at random points of a rollout, an RGD change and a
// mass deletion (kro#1170/#1171), kube-apiserver and etcd restarted or
// stopped mid-rollout, watches expired by an etcd compaction, the
// controller starved by API Priority and Fairness, a leader killed with two
// replicas, and the controller killed during ACK creates and deletes on
// moto. After every phase it lists what exists — instances and children by
// kro's labels, AWS resources through the AWS APIs — and compares it with
// what should. `trellis chaos` is the command; the report lands next to the
// benchmark's in bench/results.
package chaos

import (
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/bench"
	"github.com/trellis-dev/trellis/pkg/localcluster"
)

// Options configure a chaos run.
type Options struct {
	// N is the number of BenchApp instances of every rollout (default 1000).
	N int
	// Seeds pick the kill points; one kill scenario runs per seed
	// (default 1, 2, 3).
	Seeds []int64
	// AWSN is the number of Buckets, Roles and SecurityGroups each (default
	// 100); 0 skips the ACK scenarios.
	AWSN int
	// Workers is the controller's instance worker count (default 16).
	Workers int
	// Binary is the trellis binary whose controller runs (required).
	Binary string
	// Scenarios selects scenarios by name (default: all); see Scenarios.
	Scenarios []string
	// Settle is waited after convergence before the writes are read
	// (default 5 s).
	Settle time.Duration
	// Timeout bounds the wait for convergence of every phase (default 10 min).
	Timeout time.Duration
	// OutDir receives chaos-<date>.json and .md ("" writes nothing).
	OutDir string
	// LogDir receives the controller and moto logs (default: a temporary
	// directory).
	LogDir string
	// Version is the trellis version reported.
	Version string
	// Log receives progress (default stderr).
	Log io.Writer
}

func (o *Options) defaults() {
	if o.N <= 0 {
		o.N = 1000
	}
	if len(o.Seeds) == 0 {
		o.Seeds = []int64{1, 2, 3}
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.Settle == 0 {
		o.Settle = 5 * time.Second
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
}

// scenario is one named fault with its phases.
type scenario struct {
	name, what string
	run        func(ctx context.Context, r *runner) error
}

// Scenarios lists the scenario names and what each does, in run order.
func Scenarios() [][2]string {
	var out [][2]string
	for _, s := range scenarios {
		out = append(out, [2]string{s.name, s.what})
	}
	return out
}

var scenarios = []scenario{
	{"baseline", "rollout, RGD change and deletion without a fault: the writes every other row is compared with", runBaseline},
	{"kill-controller", "SIGKILL the controller at a random point (per seed) of a rollout, of an RGD change rolling through all instances and of the mass deletion; a new controller starts at once", runKills},
	{"restart-apiserver", "restart kube-apiserver mid-rollout", runRestartAPIServer},
	{"restart-etcd", "restart etcd mid-rollout", runRestartEtcd},
	{"apiserver-down-60s", "stop kube-apiserver for 60 s mid-rollout: the controller must keep running and resume from its caches", runAPIServerDown},
	{"watch-expiry", "compact etcd at its current revision mid-rollout and restart kube-apiserver, so every watch resumes from a compacted revision (410 Gone) and relists", runWatchExpiry},
	{"apf-throttling", "the controller in its own API Priority and Fairness level of about five seats and a queue of four that rejects the excess (429), during a rollout", runAPF},
	{"leader-handover", "two replicas with --leader-elect; SIGKILL the leader mid-rollout, the other must take over within the lease duration and finish", runLeader},
	{"ack-kill-controller", "Buckets, Roles and SecurityGroups on moto; SIGKILL the controller at a random point of their creation and of their deletion", runACK},
}

// Run runs the selected scenarios on a fresh local control plane and
// returns (and with OutDir writes) the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if o.Binary == "" {
		return nil, fmt.Errorf("chaos: no trellis binary to run the controller from")
	}
	selected := map[string]bool{}
	for _, s := range o.Scenarios {
		known := false
		for _, sc := range scenarios {
			known = known || sc.name == s
		}
		if !known {
			return nil, fmt.Errorf("chaos: unknown scenario %q (known: %s)", s, strings.Join(scenarioNames(), ", "))
		}
		selected[s] = true
	}
	if o.LogDir == "" {
		d, err := os.MkdirTemp("", "trellis-chaos-")
		if err != nil {
			return nil, err
		}
		o.LogDir = d
	}
	r := &runner{o: o, baseline: map[string]phaseFigures{}, rng: rand.New(rand.NewSource(1))}
	r.rep = &Report{Date: time.Now().UTC(), Machine: machine(), Kubernetes: localcluster.KubernetesVersion, Trellis: o.Version,
		N: o.N, AWSN: o.AWSN, Seeds: o.Seeds}
	start := time.Now()
	r.logf("controller logs in %s", o.LogDir)
	r.logf("starting a local control plane (etcd, kube-apiserver, kube-controller-manager)")
	// A restarted kube-apiserver on a loaded machine can take minutes to
	// pass its readiness hooks (rbac/bootstrap-roles); that is waited for.
	c, err := localcluster.Start(ctx, localcluster.Options{ControllerManager: true, Log: o.Log, StartTimeout: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	r.cluster = c
	if err := r.clients(); err != nil {
		return nil, err
	}
	r.rgd = &unstructured.Unstructured{}
	if err := yaml.Unmarshal(bench.RGD, &r.rgd.Object); err != nil {
		return nil, fmt.Errorf("benchmark RGD: %w", err)
	}
	defer r.stopControllers()
	for _, sc := range scenarios {
		if len(selected) > 0 && !selected[sc.name] && sc.name != "baseline" {
			continue
		}
		if sc.name == "ack-kill-controller" && o.AWSN == 0 {
			continue
		}
		r.logf("=== %s: %s", sc.name, sc.what)
		if err := sc.run(ctx, r); err != nil {
			if ctx.Err() != nil {
				return r.rep, ctx.Err()
			}
			r.logf("%s: %v", sc.name, err)
			r.rep.Rows = append(r.rep.Rows, Row{Scenario: sc.name, Err: err.Error()})
		}
	}
	r.rep.Seconds = time.Since(start).Seconds()
	if o.OutDir != "" {
		path, err := r.rep.Write(o.OutDir)
		if err != nil {
			return r.rep, err
		}
		r.logf("wrote %s", path)
	}
	return r.rep, nil
}

func scenarioNames() []string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.name)
	}
	return n
}

// runner holds the cluster, clients and controllers of one run.
type runner struct {
	o        Options
	cluster  *localcluster.Cluster
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	rgd      *unstructured.Unstructured
	rep      *Report
	rng      *rand.Rand
	ctrl     bench.Controller // the running controller, nil when none
	rgdReady bool
	revision int
	// baseline figures by phase, from the baseline scenario.
	baseline map[string]phaseFigures
	meter    meter
	logN     int
}

type phaseFigures struct {
	seconds, writesPerInstance float64
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.o.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (r *runner) clients() error {
	cfg := rest.CopyConfig(r.cluster.Config)
	cfg.QPS, cfg.Burst = 1000, 2000
	cfg.UserAgent = "trellis-chaos"
	var err error
	if r.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if r.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		return err
	}
	r.meter = meter{rest: r.kube.CoreV1().RESTClient()}
	return nil
}

// logPath is a new controller log file name.
func (r *runner) logPath(what string) string {
	r.logN++
	return filepath.Join(r.o.LogDir, fmt.Sprintf("%02d-%s.log", r.logN, what))
}

func machine() string {
	s := fmt.Sprintf("%d CPUs, %s/%s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(raw)); len(f) > 0 {
			s += ", load " + f[0] + " at start (shared machine)"
		}
	}
	return s
}
