package kroswitch

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/bench"
	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

var (
	rgds           = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
	graphRevisions = schema.GroupVersionResource{Group: "internal.kro.run", Version: "v1alpha1", Resource: "graphrevisions"}
	configMaps     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	secrets        = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	serviceAccts   = schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}
	services       = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	deployments    = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	ingresses      = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
	// childKinds are the kinds the switch tests' RGDs create.
	childKinds = []schema.GroupVersionResource{configMaps, secrets, serviceAccts, services, deployments, ingresses}
)

func instances(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: resource}
}

// trellis is trellis's controllers running in this process, as `trellis
// controller` runs them.
type trellis struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startTrellis(t *testing.T, env *testenv.Env) *trellis {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := operator.Setup(mgr, operator.Options{InstanceWorkers: 8, RGDWorkers: 2, InstallCRDs: true, MaxGraphRevisions: 5}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tr := &trellis{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(tr.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("trellis: %v", err)
		}
	}()
	t.Cleanup(tr.stop)
	return tr
}

func (tr *trellis) stop() {
	tr.cancel()
	<-tr.done
}

func load(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, string(raw))
}

func parse(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func apply(t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	t.Helper()
	_, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "switch-test", Force: true})
	if err != nil {
		t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// waitList polls the objects of gvr in ns until cond holds for the list,
// failing with what cond last said.
func waitList(t *testing.T, dyn dynamic.Interface, timeout time.Duration, gvr schema.GroupVersionResource, ns string, cond func([]unstructured.Unstructured) string) []unstructured.Unstructured {
	t.Helper()
	var items []unstructured.Unstructured
	why := "not listed yet"
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		l, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			why = err.Error()
			return false, nil
		}
		items = l.Items
		why = cond(items)
		return why == "", nil
	})
	if err != nil {
		t.Fatalf("%s in %q: not reached within %s: %s", gvr.Resource, ns, timeout, why)
	}
	return items
}

func str(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

// allActive is a waitList condition: n instances, every one ACTIVE (and,
// with trellisDone, carrying status.graphRevision, which kro does not write:
// trellis has reconciled it and written its status).
func allActive(n int, trellisDone bool) func([]unstructured.Unstructured) string {
	return func(items []unstructured.Unstructured) string {
		if len(items) != n {
			return fmt.Sprintf("%d of %d instances", len(items), n)
		}
		for i := range items {
			u := &items[i]
			if s := str(u, "status", "state"); s != "ACTIVE" {
				return fmt.Sprintf("%s is %q", u.GetName(), s)
			}
			if _, has, _ := unstructured.NestedFieldNoCopy(u.Object, "status", "graphRevision"); trellisDone && !has {
				return fmt.Sprintf("%s has no status.graphRevision yet", u.GetName())
			}
		}
		return ""
	}
}

// rgdActive waits for an RGD to be Active.
func rgdActive(t *testing.T, dyn dynamic.Interface, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(rgds).Get(ctx, name, metav1.GetOptions{})
		return err == nil && str(u, "status", "state") == "Active", nil
	})
	if err != nil {
		t.Fatalf("RGD %s not Active", name)
	}
}

// childUIDs maps "resource/name" to uid for every object kro or trellis
// made in ns (label kro.run/owned=true).
func childUIDs(t *testing.T, dyn dynamic.Interface, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, gvr := range childKinds {
		l, err := dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "kro.run/owned=true"})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range l.Items {
			out[gvr.Resource+"/"+u.GetName()] = string(u.GetUID())
		}
	}
	return out
}

// childEvents watches every child kind in ns from now on and records each
// creation and deletion.
type childEvents struct {
	mu     sync.Mutex
	events []string
	stops  []func()
}

func watchChildren(t *testing.T, dyn dynamic.Interface, ns string) *childEvents {
	t.Helper()
	ce := &childEvents{}
	for _, gvr := range childKinds {
		l, err := dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		w, err := dyn.Resource(gvr).Namespace(ns).Watch(context.Background(), metav1.ListOptions{ResourceVersion: l.GetResourceVersion(), LabelSelector: "kro.run/owned=true"})
		if err != nil {
			t.Fatal(err)
		}
		ce.stops = append(ce.stops, w.Stop)
		go func(gvr schema.GroupVersionResource) {
			for ev := range w.ResultChan() {
				if ev.Type != watch.Added && ev.Type != watch.Deleted && ev.Type != watch.Error {
					continue
				}
				name := "?"
				if m, ok := ev.Object.(metav1.Object); ok {
					name = m.GetName()
				}
				ce.mu.Lock()
				ce.events = append(ce.events, fmt.Sprintf("%s %s/%s", ev.Type, gvr.Resource, name))
				ce.mu.Unlock()
			}
		}(gvr)
	}
	t.Cleanup(ce.stop)
	return ce
}

func (ce *childEvents) stop() {
	for _, s := range ce.stops {
		s()
	}
	ce.stops = nil
}

func (ce *childEvents) seen() []string {
	ce.mu.Lock()
	defer ce.mu.Unlock()
	return append([]string(nil), ce.events...)
}

// stateSampler lists the instances of some kinds over and over and keeps
// every instance it saw in a state other than ACTIVE.
type stateSampler struct {
	cancel  context.CancelFunc
	done    chan struct{}
	mu      sync.Mutex
	samples int
	bad     map[string]bool
}

func sampleStates(dyn dynamic.Interface, ns string, kinds ...schema.GroupVersionResource) *stateSampler {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stateSampler{cancel: cancel, done: make(chan struct{}), bad: map[string]bool{}}
	go func() {
		defer close(s.done)
		for ctx.Err() == nil {
			for _, gvr := range kinds {
				l, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					continue
				}
				s.mu.Lock()
				s.samples++
				for i := range l.Items {
					if st := str(&l.Items[i], "status", "state"); st != "ACTIVE" {
						s.bad[fmt.Sprintf("%s/%s: %q", gvr.Resource, l.Items[i].GetName(), st)] = true
					}
				}
				s.mu.Unlock()
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return s
}

// stop ends sampling and returns the number of lists and what was not ACTIVE.
func (s *stateSampler) stop() (int, []string) {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	var bad []string
	for b := range s.bad {
		bad = append(bad, b)
	}
	sort.Strings(bad)
	return s.samples, bad
}

// requests scrapes the API server's request counters (as the benchmark does).
func requests(t *testing.T, env *testenv.Env) bench.Requests {
	t.Helper()
	kube, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := kube.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	samples, err := bench.ParseMetric(strings.NewReader(string(raw)), "apiserver_request_total")
	if err != nil || len(samples) == 0 {
		t.Fatalf("apiserver_request_total: %v (%d samples)", err, len(samples))
	}
	return bench.RequestsFromSamples(samples)
}

// formatBreakdown renders writes by resource and verb, as the benchmark does.
func formatBreakdown(r bench.Requests) string {
	var b strings.Builder
	for _, l := range r.Breakdown() {
		fmt.Fprintf(&b, "  %-40s %-7s %s %6.0f\n", l.Resource, l.Verb, l.Code, l.Count)
	}
	return b.String()
}
