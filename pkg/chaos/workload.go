package chaos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/trellis-dev/trellis/pkg/admission"
	"github.com/trellis-dev/trellis/pkg/bench"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

var (
	rgdGVR      = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
	benchGVR    = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "benchapps"}
	childGVRs   = []schema.GroupVersionResource{{Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "secrets"}, {Version: "v1", Resource: "serviceaccounts"}, {Version: "v1", Resource: "services"}}
	workloadRes = []string{"configmaps", "secrets", "serviceaccounts", "services", "benchapps"}
)

// meter counts the apiserver's writes over a phase from
// apiserver_request_total. A restarted apiserver starts its counters at
// zero, so a fault that restarts it calls checkpoint just before.
type meter struct {
	rest rest.Interface
	acc  bench.Requests
	base bench.Requests
}

func (m *meter) scrape(ctx context.Context) (bench.Requests, error) {
	raw, err := m.rest.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("apiserver /metrics: %w", err)
	}
	samples, err := bench.ParseMetric(strings.NewReader(string(raw)), "apiserver_request_total")
	if err != nil {
		return nil, err
	}
	return bench.RequestsFromSamples(samples), nil
}

func (m *meter) start(ctx context.Context) error {
	b, err := m.scrape(ctx)
	m.acc, m.base = bench.Requests{}, b
	return err
}

// checkpoint folds the counts so far into the total before the apiserver
// goes away.
func (m *meter) checkpoint(ctx context.Context) {
	if now, err := m.scrape(ctx); err == nil {
		for k, v := range now.Sub(m.base) {
			m.acc[k] += v
		}
	}
	m.base = bench.Requests{}
}

// total is every request since start (retried while the apiserver comes back).
func (m *meter) total(ctx context.Context) (bench.Requests, error) {
	var now bench.Requests
	err := retry(ctx, time.Minute, func() (err error) { now, err = m.scrape(ctx); return err })
	if err != nil {
		return nil, err
	}
	out := bench.Requests{}
	for k, v := range m.acc {
		out[k] += v
	}
	for k, v := range now.Sub(m.base) {
		out[k] += v
	}
	return out, nil
}

// retry calls f until it succeeds or limit passes.
func retry(ctx context.Context, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// startController starts one controller process with extra flags.
func (r *runner) startController(ctx context.Context, what, kubeconfig string, args, env []string) (bench.Controller, error) {
	args = append([]string{"--graceful-shutdown-timeout=5s"}, args...)
	start := bench.ProcessController(r.o.Binary, false, args, env)
	path := r.logPath(what)
	c, err := start(ctx, kubeconfig, r.o.Workers, path)
	if err != nil {
		return nil, fmt.Errorf("start controller (%s): %w", path, err)
	}
	return c, nil
}

// controller makes sure the plain controller (no ACK) runs, the RGD is
// applied and its kind served.
func (r *runner) controller(ctx context.Context) error {
	if r.ctrl == nil {
		c, err := r.startController(ctx, "controller", r.cluster.Kubeconfig, []string{"--ack-services=none"}, nil)
		if err != nil {
			return err
		}
		r.ctrl = c
	}
	if !r.rgdReady {
		if err := r.applyRGD(ctx, ""); err != nil {
			return err
		}
		if err := r.warmup(ctx); err != nil {
			return err
		}
		r.rgdReady = true
	}
	return nil
}

// kill SIGKILLs c (no shutdown, no lease release) and reaps it.
func kill(c bench.Controller) {
	_ = syscall.Kill(c.Pid(), syscall.SIGKILL)
	_ = c.Stop()
}

func (r *runner) stopControllers() {
	if r.ctrl != nil {
		_ = r.ctrl.Stop()
		r.ctrl = nil
	}
}

// applyRGD applies the benchmark RGD; rev, if set, labels the config
// template bench.ChangeLabel=rev (the benchmark's RGD change).
func (r *runner) applyRGD(ctx context.Context, rev string) error {
	u := r.rgd.DeepCopy()
	if rev != "" {
		res, _, _ := unstructured.NestedSlice(u.Object, "spec", "resources")
		first := res[0].(map[string]any)
		if err := unstructured.SetNestedField(first, rev, "template", "metadata", "labels", bench.ChangeLabel); err != nil {
			return err
		}
		if err := unstructured.SetNestedSlice(u.Object, res, "spec", "resources"); err != nil {
			return err
		}
	}
	return retry(ctx, time.Minute, func() error {
		_, err := r.dyn.Resource(rgdGVR).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "trellis-chaos", Force: true})
		return err
	})
}

// warmup waits until BenchApps can be created and one reaches ACTIVE.
func (r *runner) warmup(ctx context.Context) error {
	ns := "chaos-warmup"
	if err := r.namespace(ctx, ns); err != nil {
		return err
	}
	// The RGD's admission policy stamps new instances once it is bound
	// (trellis binds it when the API server has had time to learn the
	// kind); the baseline's rollout must not be the only one without it.
	bindings := r.kube.AdmissionregistrationV1().MutatingAdmissionPolicyBindings()
	if err := retry(ctx, time.Minute, func() error {
		_, err := bindings.Get(ctx, admission.PolicyName(r.rgd.GetName()), metav1.GetOptions{})
		return err
	}); err != nil {
		r.logf("the RGD's admission policy is not bound (%v): the controller stamps new instances itself", err)
	}
	if err := retry(ctx, 2*time.Minute, func() error {
		_, err := r.dyn.Resource(benchGVR).Namespace(ns).Create(ctx, benchApp(ns, "warmup"), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return fmt.Errorf("warm-up instance: %w", err)
	}
	_, err := r.waitState(ctx, ns, []string{"warmup"}, "", time.Now(), 2*time.Minute)
	if err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if err := r.dyn.Resource(benchGVR).Namespace(ns).Delete(ctx, "warmup", metav1.DeleteOptions{}); err != nil {
		return err
	}
	// Gone before the first measured phase, whose writes it would add to.
	_, err = r.waitState(ctx, ns, nil, "", time.Now(), 2*time.Minute)
	return err
}

func (r *runner) namespace(ctx context.Context, ns string) error {
	return retry(ctx, time.Minute, func() error {
		_, err := r.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

func benchApp(ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": benchGVR.GroupVersion().String(), "kind": "BenchApp",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"name": name},
	}}
}

func instanceNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("app-%05d", i)
	}
	return out
}

// forEach runs f over names with 16 workers; each call is retried (the
// apiserver may be away mid-fault) until it succeeds or ctx ends.
func forEach(ctx context.Context, names []string, f func(ctx context.Context, name string) error) error {
	ch := make(chan string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range ch {
				if err := retry(ctx, 3*time.Minute, func() error { return f(ctx, n) }); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", n, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, n := range names {
		select {
		case ch <- n:
		case <-ctx.Done():
		}
	}
	close(ch)
	wg.Wait()
	return first
}

func (r *runner) createAll(ctx context.Context, ns string, names []string) error {
	return forEach(ctx, names, func(ctx context.Context, name string) error {
		_, err := r.dyn.Resource(benchGVR).Namespace(ns).Create(ctx, benchApp(ns, name), metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

func (r *runner) deleteAll(ctx context.Context, ns string, names []string) error {
	return forEach(ctx, names, func(ctx context.Context, name string) error {
		err := r.dyn.Resource(benchGVR).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
}

// list reads the instances and children of ns.
func (r *runner) list(ctx context.Context, ns string, withChildren bool) (instances, children []object, err error) {
	l, err := r.dyn.Resource(benchGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	for _, u := range l.Items {
		o := toObject("benchapps", u)
		o.State, _, _ = unstructured.NestedString(u.Object, "status", "state")
		instances = append(instances, o)
	}
	if !withChildren {
		return instances, nil, nil
	}
	for _, gvr := range childGVRs {
		l, err := r.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: trt.LabelOwned + "=true"})
		if err != nil {
			return nil, nil, err
		}
		for _, u := range l.Items {
			children = append(children, toObject(gvr.Resource, u))
		}
	}
	return instances, children, nil
}

func toObject(resource string, u unstructured.Unstructured) object {
	return object{Resource: resource, Name: u.GetName(), Labels: u.GetLabels(), Deleting: u.GetDeletionTimestamp() != nil, Finalizers: u.GetFinalizers()}
}

// waitState waits until every instance of want is ACTIVE (and, with label,
// its config ConfigMap carries it), or with want empty until the namespace
// holds no instance and no child; it returns when that was first seen
// (polled every 2 s), or the last check's findings on timeout.
func (r *runner) waitState(ctx context.Context, ns string, want []string, label string, since time.Time, limit time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(limit)
	for {
		done, err := r.reached(ctx, ns, want, label)
		if done {
			return time.Since(since), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(since), fmt.Errorf("not converged after %s (%v)", limit, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func (r *runner) reached(ctx context.Context, ns string, want []string, label string) (bool, error) {
	insts, _, err := r.list(ctx, ns, false)
	if err != nil {
		return false, err
	}
	if len(want) == 0 {
		if len(insts) > 0 {
			return false, fmt.Errorf("%d instances left", len(insts))
		}
		_, children, err := r.list(ctx, ns, true)
		if err == nil && len(children) > 0 {
			err = fmt.Errorf("%d children left", len(children))
		}
		return err == nil, err
	}
	active := 0
	for _, o := range insts {
		if o.State == "ACTIVE" {
			active++
		}
	}
	if active < len(want) {
		return false, fmt.Errorf("%d of %d ACTIVE", active, len(want))
	}
	if label == "" {
		return true, nil
	}
	l, err := r.dyn.Resource(childGVRs[0]).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: label})
	if err != nil {
		return false, err
	}
	// Every instance has one config ConfigMap with the label (the
	// endpoints ConfigMap does not carry it).
	if len(l.Items) < len(want) {
		return false, fmt.Errorf("%d of %d configs changed", len(l.Items), len(want))
	}
	return true, nil
}
