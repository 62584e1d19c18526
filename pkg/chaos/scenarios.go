package chaos

import (
	"context"
	"fmt"
	"math/rand"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/trellis-dev/trellis/pkg/bench"
)

// cycle runs rollout, RGD change and deletion of N instances in ns, with
// the fault of each phase from faults (nil: none).
func (r *runner) cycle(ctx context.Context, scenario string, seed int64, faults func(phase string) (time.Duration, func(context.Context) (string, error))) error {
	if err := r.controller(ctx); err != nil {
		return err
	}
	ns := fmt.Sprintf("chaos-%s-%d", scenario, seed)
	if err := r.namespace(ctx, ns); err != nil {
		return err
	}
	names := instanceNames(r.o.N)
	r.revision++
	rev := fmt.Sprintf("c%d", r.revision)
	label := bench.ChangeLabel + "=" + rev
	phases := []phase{
		{name: "rollout", want: names, act: func(ctx context.Context) error { return r.createAll(ctx, ns, names) }},
		{name: "rgd-change", want: names, label: label, act: func(ctx context.Context) error { return r.applyRGD(ctx, rev) }},
		{name: "deletion", act: func(ctx context.Context) error { return r.deleteAll(ctx, ns, names) }},
	}
	for _, p := range phases {
		p.scenario, p.seed, p.ns, p.instances = scenario, seed, ns, r.o.N
		if faults != nil {
			p.faultAt, p.fault = faults(p.name)
		}
		r.run(ctx, p)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func runBaseline(ctx context.Context, r *runner) error {
	return r.cycle(ctx, "baseline", 0, nil)
}

// killAndRestart is the fault of the kill scenarios: SIGKILL, then a new
// controller at once (what a Deployment does, without the back-off).
func (r *runner) killAndRestart(ctx context.Context) (string, error) {
	if r.ctrl != nil {
		kill(r.ctrl)
		r.ctrl = nil
	}
	c, err := r.startController(ctx, "controller", r.cluster.Kubeconfig, []string{"--ack-services=none"}, nil)
	if err != nil {
		return "", err
	}
	r.ctrl = c
	return "", nil
}

func runKills(ctx context.Context, r *runner) error {
	for _, seed := range r.o.Seeds {
		rng := rand.New(rand.NewSource(seed))
		err := r.cycle(ctx, "kill-controller", seed, func(phase string) (time.Duration, func(context.Context) (string, error)) {
			return r.randomPoint(rng, phase), r.killAndRestart
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// rollout runs one rollout with a fault at a random point (seed 1), then
// deletes the instances again (unmeasured, but required to finish).
func (r *runner) rollout(ctx context.Context, scenario string, fault func(context.Context) (string, error), apiserverRestarts bool) error {
	if err := r.controller(ctx); err != nil {
		return err
	}
	ns := "chaos-" + scenario
	if err := r.namespace(ctx, ns); err != nil {
		return err
	}
	names := instanceNames(r.o.N)
	rng := rand.New(rand.NewSource(1))
	r.run(ctx, phase{scenario: scenario, name: "rollout", ns: ns, instances: r.o.N, want: names,
		act:     func(ctx context.Context) error { return r.createAll(ctx, ns, names) },
		faultAt: r.randomPoint(rng, "rollout"), fault: fault, apiserverRestarts: apiserverRestarts})
	return r.cleanup(ctx, ns, names)
}

// cleanup deletes the instances of ns and waits until nothing is left.
func (r *runner) cleanup(ctx context.Context, ns string, names []string) error {
	if err := r.controller(ctx); err != nil {
		return err
	}
	if err := r.deleteAll(ctx, ns, names); err != nil {
		return err
	}
	_, err := r.waitState(ctx, ns, nil, "", time.Now(), r.o.Timeout)
	return err
}

func runRestartAPIServer(ctx context.Context, r *runner) error {
	return r.rollout(ctx, "restart-apiserver", func(ctx context.Context) (string, error) {
		r.meter.checkpoint(ctx)
		return "", r.cluster.RestartComponent(ctx, "kube-apiserver", time.Second)
	}, true)
}

func runRestartEtcd(ctx context.Context, r *runner) error {
	return r.rollout(ctx, "restart-etcd", func(ctx context.Context) (string, error) {
		return "", r.cluster.RestartComponent(ctx, "etcd", time.Second)
	}, false)
}

func runAPIServerDown(ctx context.Context, r *runner) error {
	return r.rollout(ctx, "apiserver-down-60s", func(ctx context.Context) (string, error) {
		pid := r.ctrl.Pid()
		r.meter.checkpoint(ctx)
		if err := r.cluster.StopComponent("kube-apiserver", 10*time.Second); err != nil {
			return "", err
		}
		select {
		case <-ctx.Done():
		case <-time.After(60 * time.Second):
		}
		alive := syscall.Kill(pid, 0) == nil
		if err := r.cluster.StartComponent(ctx, "kube-apiserver"); err != nil {
			return "", err
		}
		if !alive {
			r.ctrl = nil
			return "", fmt.Errorf("the controller exited while the apiserver was away")
		}
		return "controller kept running through the outage", nil
	}, true)
}

func runWatchExpiry(ctx context.Context, r *runner) error {
	return r.rollout(ctx, "watch-expiry", func(ctx context.Context) (string, error) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{r.cluster.EtcdURL}, DialTimeout: 5 * time.Second})
		if err != nil {
			return "", err
		}
		defer cli.Close()
		resp, err := cli.Get(ctx, "compact-probe")
		if err != nil {
			return "", err
		}
		rev := resp.Header.Revision
		if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
			return "", fmt.Errorf("compact etcd at %d: %w", rev, err)
		}
		r.meter.checkpoint(ctx)
		if err := r.cluster.RestartComponent(ctx, "kube-apiserver", 0); err != nil {
			return "", err
		}
		return fmt.Sprintf("etcd compacted at revision %d", rev), nil
	}, true)
}
