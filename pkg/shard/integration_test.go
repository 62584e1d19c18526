package shard_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/shard"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// A replica run as a separate process (so that it can be SIGKILLed): the
// test binary re-executed with these variables set.
const (
	envReplica    = "TRELLIS_SHARD_TEST_REPLICA"
	envKubeconfig = "TRELLIS_SHARD_TEST_KUBECONFIG"
)

// Lease timings of the test replicas: short, so hand-overs take seconds.
var (
	leaseDuration = 4 * time.Second
	renewDeadline = 3 * time.Second
	retryPeriod   = 500 * time.Millisecond
)

const leaseNamespace = "trellis-system"

func TestMain(m *testing.M) {
	if name := os.Getenv(envReplica); name != "" {
		os.Exit(runReplicaProcess(name, os.Getenv(envKubeconfig)))
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	os.Exit(testenv.Run(m, testenv.Options{FeatureGates: map[string]bool{"ShardedListAndWatch": true}}))
}

func runReplicaProcess(name, kubeconfig string) int {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	mgr, _, err := newReplica(cfg, name, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func newReplica(cfg *rest.Config, name string, onReconcile func(uid string) func()) (ctrl.Manager, *operator.Controllers, error) {
	// Each replica its own scheme, as each process has: in-process replicas
	// would otherwise add trellis's types to client-go's global one at once.
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, nil, err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, nil, err
	}
	ctls, err := operator.SetupControllers(mgr, operator.Options{
		InstanceWorkers: 4, RGDWorkers: 2, InstallCRDs: true, MaxGraphRevisions: 3,
		Sharding: true,
		Shard: shard.Config{Namespace: leaseNamespace, Name: "trellis", Identity: name,
			LeaseDuration: leaseDuration, RenewDeadline: renewDeadline, RetryPeriod: retryPeriod},
		OnReconcile: onReconcile,
	})
	return mgr, ctls, err
}

// replica is one in-process replica.
type replica struct {
	name   string
	ctls   *operator.Controllers
	cancel context.CancelFunc
	done   chan struct{}
}

func startReplica(t *testing.T, env *testenv.Env, name string, det *detector) *replica {
	t.Helper()
	mgr, ctls, err := newReplica(env.Config, name, det.hook(name))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &replica{name: name, ctls: ctls, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("replica %s: %v", name, err)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *replica) stop() {
	r.cancel()
	<-r.done
}

// detector records which replica reconciles which instance, and any
// instance reconciled by two replicas at once.
type detector struct {
	mu         sync.Mutex
	running    map[string]string
	by         map[string]map[string]int // uid → replica → reconciles
	violations []string
	delay      map[string]time.Duration // per replica
}

func newDetector() *detector {
	return &detector{running: map[string]string{}, by: map[string]map[string]int{}, delay: map[string]time.Duration{}}
}

func (d *detector) hook(replica string) func(uid string) func() {
	return func(uid string) func() {
		d.mu.Lock()
		if other, ok := d.running[uid]; ok && other != replica {
			d.violations = append(d.violations, fmt.Sprintf("instance %s reconciled by %s while %s was", uid, replica, other))
		}
		d.running[uid] = replica
		if d.by[uid] == nil {
			d.by[uid] = map[string]int{}
		}
		d.by[uid][replica]++
		d.mu.Unlock()
		// Slow reconciles widen the hand-over: a replica that started on
		// a bucket before the old owner drained it would overlap here.
		d.mu.Lock()
		delay := d.delay[replica]
		d.mu.Unlock()
		time.Sleep(delay)
		return func() {
			d.mu.Lock()
			if d.running[uid] == replica {
				delete(d.running, uid)
			}
			d.mu.Unlock()
		}
	}
}

func (d *detector) check(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, v := range d.violations {
		t.Error(v)
	}
}

var appGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "shardapps"}
var rgdGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}

const appRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: shardapps.kro.run
spec:
  schema:
    apiVersion: v1alpha1
    kind: ShardApp
    spec:
      value: string
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-cm
      data:
        value: ${schema.spec.value}
`

type fixture struct {
	t    *testing.T
	env  *testenv.Env
	dyn  dynamic.Interface
	kube kubernetes.Interface
	ns   string
	n    int
}

func (f *fixture) apply(gvr schema.GroupVersionResource, doc string) {
	f.t.Helper()
	if err := f.tryApply(gvr, doc); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) tryApply(gvr schema.GroupVersionResource, doc string) error {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		return err
	}
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, err = f.dyn.Resource(gvr).Namespace(u.GetNamespace()).Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "test", Force: true})
		if err == nil || time.Now().After(deadline) || !(strings.Contains(err.Error(), "There can be a delay") || strings.Contains(err.Error(), "not found")) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("apply %s: %w", u.GetName(), err)
	}
	return nil
}

func (f *fixture) rgdActive() {
	f.t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := f.dyn.Resource(rgdGVR).Get(ctx, "shardapps.kro.run", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		s, _, _ := unstructured.NestedString(u.Object, "status", "state")
		return s == "Active", nil
	})
	if err != nil {
		f.t.Fatal("RGD not Active within 60s")
	}
}

// setValues sets spec.value of every instance.
func (f *fixture) setValues(v string) {
	f.t.Helper()
	if err := f.trySetValues(v); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) trySetValues(v string) error {
	for i := 0; i < f.n; i++ {
		if err := f.tryApply(appGVR, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: ShardApp\nmetadata: {name: app-%02d, namespace: %s}\nspec: {value: %s}\n", i, f.ns, v)); err != nil {
			return err
		}
	}
	return nil
}

// converged waits until every instance is ACTIVE with its ConfigMap at v,
// and there is exactly one ConfigMap per instance.
func (f *fixture) converged(v string, timeout time.Duration) {
	f.t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		cms, err := f.kube.CoreV1().ConfigMaps(f.ns).List(ctx, metav1.ListOptions{LabelSelector: "kro.run/instance-id"})
		if err != nil {
			return false, nil
		}
		if len(cms.Items) != f.n {
			last = fmt.Sprintf("%d ConfigMaps, want %d", len(cms.Items), f.n)
			return false, nil
		}
		for _, cm := range cms.Items {
			if cm.Data["value"] != v {
				last = fmt.Sprintf("ConfigMap %s has value %q, want %q", cm.Name, cm.Data["value"], v)
				return false, nil
			}
		}
		apps, err := f.dyn.Resource(appGVR).Namespace(f.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, a := range apps.Items {
			if s, _, _ := unstructured.NestedString(a.Object, "status", "state"); s != "ACTIVE" {
				last = fmt.Sprintf("%s is %q", a.GetName(), s)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		f.t.Fatalf("instances not converged to %q within %s: %s", v, timeout, last)
	}
}

// uids are the instances' UIDs.
func (f *fixture) uids() []string {
	f.t.Helper()
	apps, err := f.dyn.Resource(appGVR).Namespace(f.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, a := range apps.Items {
		out = append(out, string(a.GetUID()))
	}
	return out
}

// ringCovers waits until the replicas serve disjoint sets whose union is
// want, and returns how long that took.
func ringCovers(t *testing.T, rs []*replica, want shard.Set, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		var union shard.Set
		var parts []string
		idle := false
		for _, r := range rs {
			s := r.ctls.Instances.Serving()
			idle = idle || s == 0
			if union&s != 0 {
				t.Errorf("buckets %x served by two replicas at once", uint64(union&s))
			}
			union |= s
			parts = append(parts, fmt.Sprintf("%s:%d", r.name, s.Len()))
		}
		last = strings.Join(parts, " ")
		return union == want && !idle, nil
	})
	if err != nil {
		t.Fatalf("replicas never served exactly buckets %x (last: %s)", uint64(want), last)
	}
	return time.Since(start)
}

// cachesHoldShares waits until each replica's caches hold exactly the
// instances (and children) it serves.
func cachesHoldShares(t *testing.T, rs []*replica, uids []string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		for _, r := range rs {
			s := r.ctls.Instances.Serving()
			want := 0
			for _, u := range uids {
				if s.Contains(u) {
					want++
				}
			}
			inst, children := r.ctls.Instances.CachedObjects()
			if inst != want || children != want {
				last = fmt.Sprintf("%s caches %d instances and %d children, serves %d", r.name, inst, children, want)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(last)
	}
	for _, r := range rs {
		inst, children := r.ctls.Instances.CachedObjects()
		t.Logf("%s: %d of 64 buckets, caches %d of %d instances and %d children", r.name, r.ctls.Instances.Serving().Len(), inst, len(uids), children)
	}
}

// TestShardedReplicas runs replicas on a control plane with
// ShardedListAndWatch: every instance has one owner, caches hold shares,
// a replica joining takes its buckets without two replicas reconciling an
// instance at once, and a SIGKILLed replica's buckets are taken over.
func TestShardedReplicas(t *testing.T) {
	env := testenv.Current(t)
	f := &fixture{t: t, env: env, dyn: dynamic.NewForConfigOrDie(env.Config), kube: kubernetes.NewForConfigOrDie(env.Config), n: 48}
	if _, err := f.kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.ns = env.Namespace(t)
	det := newDetector()

	rs := []*replica{startReplica(t, env, "r0", det), startReplica(t, env, "r1", det), startReplica(t, env, "r2", det)}
	t.Logf("3 replicas share the buckets after %s", ringCovers(t, rs, shard.All, 60*time.Second))
	for _, r := range rs {
		if sharded, serverSide := r.ctls.Instances.Sharded(); !sharded || !serverSide {
			t.Fatalf("%s: sharded=%v serverSide=%v, want both with the feature gate on", r.name, sharded, serverSide)
		}
	}
	f.apply(rgdGVR, appRGD)
	f.rgdActive()
	f.setValues("v1")
	f.converged("v1", 90*time.Second)
	uids := f.uids()

	// Exactly one owner: each instance was reconciled by the replica
	// serving its bucket only.
	owner := func(uid string) string {
		for _, r := range rs {
			if r.ctls.Instances.Serving().Contains(uid) {
				return r.name
			}
		}
		return ""
	}
	det.mu.Lock()
	for _, u := range uids {
		if len(det.by[u]) != 1 || det.by[u][owner(u)] == 0 {
			t.Errorf("instance %s reconciled by %v, want only by %s", u, det.by[u], owner(u))
		}
	}
	det.mu.Unlock()
	cachesHoldShares(t, rs, uids)
	// What the instance informers ask for: the API server answers a list
	// of the custom kind with the share only.
	for _, r := range rs {
		sel, _ := r.ctls.Instances.Serving().Selector(shard.FieldUID)
		l, err := f.dyn.Resource(appGVR).List(context.Background(), metav1.ListOptions{ShardSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		inst, _ := r.ctls.Instances.CachedObjects()
		if len(l.Items) != inst {
			t.Errorf("%s: the API server's sharded list has %d instances, the cache %d", r.name, len(l.Items), inst)
		}
	}

	// A replica joins while every instance changes: buckets move, and no
	// instance is reconciled by two replicas at once, none is lost.
	det.mu.Lock()
	for _, r := range rs { // the old owners are busy when their buckets move
		det.delay[r.name] = time.Second
	}
	det.mu.Unlock()
	stop, updated := make(chan struct{}), make(chan error, 1)
	go func() { // keep every instance changing through the hand-over
		for i := 0; ; i++ {
			select {
			case <-stop:
				updated <- nil
				return
			default:
			}
			if err := f.trySetValues(fmt.Sprintf("v2-%d", i)); err != nil {
				updated <- err
				return
			}
		}
	}()
	start := time.Now()
	rs = append(rs, startReplica(t, env, "r3", det))
	ringCovers(t, rs, shard.All, 60*time.Second)
	t.Logf("hand-over to a new replica: %s from its start until 4 replicas served every bucket", time.Since(start).Round(time.Millisecond))
	time.Sleep(2 * time.Second) // the new replica's first reconciles, while old owners may still drain
	close(stop)
	if err := <-updated; err != nil {
		t.Fatal(err)
	}
	det.mu.Lock()
	det.delay = map[string]time.Duration{}
	det.mu.Unlock()
	f.setValues("v2")
	f.converged("v2", 60*time.Second)
	cachesHoldShares(t, rs, uids)
	det.check(t)

	// A replica in its own process joins, works, and is SIGKILLed: the
	// others take its buckets once its Lease expires.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envReplica+"=killme", envKubeconfig+"="+env.Kubeconfig)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var theirs shard.Set
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		var ours shard.Set
		for _, r := range rs {
			ours |= r.ctls.Instances.Serving()
		}
		l, err := f.kube.CoordinationV1().Leases(leaseNamespace).Get(ctx, "trellis-shard-killme", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		theirs, _ = shard.ParseSet(l.Annotations[shard.AnnotationBuckets])
		return theirs != 0 && ours|theirs == shard.All && ours&theirs == 0, nil
	})
	if err != nil {
		t.Fatal("the replica process never took its buckets")
	}
	n := 0
	for _, u := range uids {
		if theirs.Contains(u) {
			n++
		}
	}
	t.Logf("the replica process serves %d buckets (%d instances)", theirs.Len(), n)
	f.setValues("v3")
	f.converged("v3", 60*time.Second)
	if err := cmd.Process.Signal(syscallKill); err != nil {
		t.Fatal(err)
	}
	took := ringCovers(t, rs, shard.All, 3*leaseDuration+10*time.Second)
	t.Logf("hand-over after SIGKILL: %s until the others served every bucket (Lease duration %s)", took.Round(time.Millisecond), leaseDuration)
	f.setValues("v4")
	f.converged("v4", 60*time.Second)
	det.check(t)
}

// TestShardedReplicasWithoutFeatureGate: on an API server without
// ShardedListAndWatch (EKS today) replicas still split the work; each
// receives every object and keeps its share.
func TestShardedReplicasWithoutFeatureGate(t *testing.T) {
	testenv.Current(t) // skips when integration tests are off
	env, err := testenv.Start(testenv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	f := &fixture{t: t, env: env, dyn: dynamic.NewForConfigOrDie(env.Config), kube: kubernetes.NewForConfigOrDie(env.Config), n: 16}
	if _, err := f.kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: leaseNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.ns = env.Namespace(t)
	det := newDetector()
	rs := []*replica{startReplica(t, env, "a", det), startReplica(t, env, "b", det)}
	ringCovers(t, rs, shard.All, 60*time.Second)
	for _, r := range rs {
		if sharded, serverSide := r.ctls.Instances.Sharded(); !sharded || serverSide {
			t.Fatalf("%s: sharded=%v serverSide=%v, want client-side sharding without the gate", r.name, sharded, serverSide)
		}
	}
	f.apply(rgdGVR, appRGD)
	f.rgdActive()
	f.setValues("v1")
	f.converged("v1", 90*time.Second)
	uids := f.uids()
	det.mu.Lock()
	for _, u := range uids {
		if len(det.by[u]) != 1 {
			t.Errorf("instance %s reconciled by %v, want one replica", u, det.by[u])
		}
	}
	det.mu.Unlock()
	cachesHoldShares(t, rs, uids)
	det.check(t)
}
