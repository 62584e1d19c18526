package operator_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

var dyn dynamic.Interface

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{Full: true}))
}

var rgdGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}

// setup starts the controllers once per package against the test cluster.
func setup(t *testing.T) *testenv.Env {
	t.Helper()
	env := testenv.Current(t)
	if dyn != nil {
		return env
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(os.Stderr)))
	startController(t, env)
	dyn = dynamic.NewForConfigOrDie(env.Config)
	return env
}

var (
	stopController context.CancelFunc
	controllerDone chan struct{}
)

// startController runs trellis's controllers in-process, as `trellis
// controller` does.
func startController(t *testing.T, env *testenv.Env) {
	t.Helper()
	metricsAddr = freeAddr(t)
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := operator.Setup(mgr, operator.Options{InstanceWorkers: 4, RGDWorkers: 2, InstallCRDs: true, MaxGraphRevisions: 3}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			panic(err)
		}
	}()
	stopController, controllerDone = cancel, done
}

// restartController stops the controllers (wherever they are) and starts
// fresh ones with empty caches and no memory of earlier graphs.
func restartController(t *testing.T, env *testenv.Env) {
	t.Helper()
	stopController()
	<-controllerDone
	startController(t, env)
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

// configMapRGD is the smallest RGD: kind with an empty spec, one ConfigMap
// named after the instance.
func configMapRGD(t *testing.T, name, kind string) *unstructured.Unstructured {
	t.Helper()
	return parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: %s
spec:
  schema:
    apiVersion: v1alpha1
    kind: %s
    spec: {}
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-cm
`, name, kind))
}

func apply(t *testing.T, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	t.Helper()
	_, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "test", Force: true})
	// Right after a CRD (or the admission policy of its RGD) appears, the
	// API server may not know the kind's schema yet, and says so.
	for deadline := time.Now().Add(15 * time.Second); err != nil && strings.Contains(err.Error(), "There can be a delay") && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		_, err = dyn.Resource(gvr).Namespace(u.GetNamespace()).Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "test", Force: true})
	}
	if err != nil {
		t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

// applyRGD applies an RGD under a unique name and deletes it at the end.
func applyRGD(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	apply(t, rgdGVR, u)
	t.Cleanup(func() {
		// Instances may still exist (their namespace goes later): orphan
		// them, and wait, so the next test starts from a clean slate.
		ctx := context.Background()
		patch := []byte(`{"metadata":{"annotations":{"trellis.dev/orphan-instances":"true"}}}`)
		_, _ = dyn.Resource(rgdGVR).Patch(ctx, u.GetName(), types.MergePatchType, patch, metav1.PatchOptions{})
		_ = dyn.Resource(rgdGVR).Delete(ctx, u.GetName(), metav1.DeleteOptions{})
		gone(t, 30*time.Second, rgdGVR, "", u.GetName())
	})
}

// eventually polls get until cond holds, failing with the last object seen.
func eventually(t *testing.T, timeout time.Duration, what string, get func() (*unstructured.Unstructured, error), cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var last *unstructured.Unstructured
	var lastErr error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last, lastErr = get()
		return lastErr == nil && cond(last), nil
	})
	if err != nil {
		var dump []byte
		if last != nil {
			dump, _ = yaml.Marshal(last.Object)
		}
		t.Fatalf("%s: not reached within %s (last error: %v)\n%s", what, timeout, lastErr, dump)
	}
	return last
}

func getter(gvr schema.GroupVersionResource, ns, name string) func() (*unstructured.Unstructured, error) {
	return func() (*unstructured.Unstructured, error) {
		return dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	}
}

func str(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

func rgdActive(u *unstructured.Unstructured) bool { return str(u, "status", "state") == "Active" }

func condition(u *unstructured.Unstructured, typ string) map[string]any {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == typ {
			return m
		}
	}
	return nil
}

func gone(t *testing.T, timeout time.Duration, gvr schema.GroupVersionResource, ns, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		t.Fatalf("%s %s/%s still exists after %s", gvr.Resource, ns, name, timeout)
	}
}

var (
	configMaps = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	services   = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	secrets    = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	deploys    = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	ingresses  = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
	benchApps  = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "benchapps"}
	webApps    = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "webapps"}
)

func benchInstance(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "BenchApp",
		"metadata": map[string]any{"name": name, "namespace": ns},
		"spec":     map[string]any{"name": name},
	}}
	return u
}

func TestBenchAppLifecycle(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	rgd := load(t, "testdata/benchapp-rgd.yaml")
	applyRGD(t, rgd)
	got := eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", rgd.GetName()), rgdActive)
	order, _, _ := unstructured.NestedStringSlice(got.Object, "status", "topologicalOrder")
	if strings.Join(order, ",") != "config,secret,sa,service,endpoints" {
		t.Errorf("topologicalOrder = %v", order)
	}

	apply(t, benchApps, benchInstance(ns, "app1"))
	inst := eventually(t, 30*time.Second, "instance ACTIVE", getter(benchApps, ns, "app1"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE" && str(u, "status", "clusterIP") != ""
	})
	if got := str(inst, "status", "configName"); got != "app1-endpoints" {
		t.Errorf("status.configName = %q", got)
	}
	for _, typ := range []string{"InstanceManaged", "GraphResolved", "ResourcesReady", "Ready"} {
		if c := condition(inst, typ); c == nil || c["status"] != "True" {
			t.Errorf("condition %s = %v", typ, c)
		}
	}
	if !contains(inst.GetFinalizers(), "kro.run/finalizer") || inst.GetLabels()["kro.run/owned"] != "true" {
		t.Errorf("instance not managed: finalizers %v labels %v", inst.GetFinalizers(), inst.GetLabels())
	}
	cm, err := dyn.Resource(configMaps).Namespace(ns).Get(context.Background(), "app1-endpoints", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ip := str(cm, "data", "SERVICE_IP"); ip != str(inst, "status", "clusterIP") {
		t.Errorf("endpoints SERVICE_IP = %q, status.clusterIP = %q", ip, str(inst, "status", "clusterIP"))
	}
	l := cm.GetLabels()
	if l["kro.run/instance-name"] != "app1" || l["kro.run/node-id"] != "endpoints" || l["kro.run/instance-id"] != string(inst.GetUID()) ||
		l["kro.run/owned"] != "true" || len(l) != 4 { // --child-labels=lean (the default)
		t.Errorf("child labels = %v", l)
	}

	// Drift: a deleted child comes back, an edited field is reverted.
	if err := dyn.Resource(secrets).Namespace(ns).Delete(context.Background(), "app1-secret", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "deleted secret recreated", getter(secrets, ns, "app1-secret"), func(u *unstructured.Unstructured) bool { return true })
	cm.Object["data"].(map[string]any)["ENV"] = "tampered"
	mustUpdate(t, configMaps, ns, "app1-config", func(u *unstructured.Unstructured) {
		u.Object["data"].(map[string]any)["ENV"] = "tampered"
	})
	eventually(t, 15*time.Second, "edited configmap reverted", getter(configMaps, ns, "app1-config"), func(u *unstructured.Unstructured) bool {
		return str(u, "data", "ENV") == "dev"
	})

	// A spec change flows into the children.
	upd := benchInstance(ns, "app1")
	upd.Object["spec"].(map[string]any)["env"] = "prod"
	apply(t, benchApps, upd)
	eventually(t, 15*time.Second, "spec change applied", getter(configMaps, ns, "app1-config"), func(u *unstructured.Unstructured) bool {
		return str(u, "data", "ENV") == "prod"
	})

	// Deletion removes every child, then the instance.
	if err := dyn.Resource(benchApps).Namespace(ns).Delete(context.Background(), "app1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone(t, 30*time.Second, benchApps, ns, "app1")
	for _, c := range []struct {
		gvr  schema.GroupVersionResource
		name string
	}{{configMaps, "app1-config"}, {configMaps, "app1-endpoints"}, {secrets, "app1-secret"}, {services, "app1"}} {
		gone(t, 5*time.Second, c.gvr, ns, c.name)
	}
}

func mustGet(t *testing.T, gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// mustUpdate reads the object, lets mutate change it and updates it, reading
// again when the controller wrote it in between (a conflict).
func mustUpdate(t *testing.T, gvr schema.GroupVersionResource, ns, name string, mutate func(*unstructured.Unstructured)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := dyn.Resource(gvr).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(u)
		_, err = dyn.Resource(gvr).Namespace(ns).Update(context.Background(), u, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestSeedWebApp(t *testing.T) {
	setup(t)
	rgd := load(t, "testdata/webapp-rgd.yaml")
	applyRGD(t, rgd)
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", rgd.GetName()), rgdActive)
	inst := load(t, "testdata/webapp-instance.yaml")
	inst.SetNamespace("default")
	apply(t, webApps, inst)
	got := eventually(t, 90*time.Second, "WebApp ACTIVE", getter(webApps, "default", "test-app"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE"
	})
	if n, _, _ := unstructured.NestedInt64(got.Object, "status", "availableReplicas"); n != 1 {
		t.Errorf("status.availableReplicas = %d, want 1", n)
	}
	if err := dyn.Resource(webApps).Namespace("default").Delete(context.Background(), "test-app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	gone(t, 60*time.Second, webApps, "default", "test-app")
	gone(t, 5*time.Second, deploys, "default", "test-app")
	gone(t, 5*time.Second, services, "default", "test-app")
	gone(t, 5*time.Second, ingresses, "default", "test-app")
}

// Bad RGDs go Inactive with a message that names the culprit.
func TestInvalidRGDs(t *testing.T) {
	setup(t)
	base := func(name, resources string) string {
		return fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: %s
spec:
  schema:
    apiVersion: v1alpha1
    kind: Bad%s
    spec:
      name: string
      replicas: integer | default=1
  resources:
%s`, name, strings.ReplaceAll(strings.Title(strings.ReplaceAll(name, "-", " ")), " ", ""), resources)
	}
	cm := func(id, name, extra string) string {
		return fmt.Sprintf(`
  - id: %s
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: %s
%s`, id, name, extra)
	}
	cases := []struct {
		name, resources, want string
		reason                string // GraphAccepted's reason, when it matters
	}{
		{"bad-cycle", cm("a", "${b.metadata.name}", "") + cm("b", "${a.metadata.name}", ""), "graph contains a cycle: a -> b -> a", ""},
		{"bad-unknown-field", cm("a", "x", "      bogus: 1"), "bogus", ""},
		{"bad-cel-typo", cm("a", "x", "") + cm("b", "y", "      data:\n        v: ${a.metadata.nam}"), "nam", ""},
		{"bad-type", `
  - id: d
    template:
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: x
      spec:
        replicas: ${schema.spec.name}
        selector: {}
        template: {}`, "replicas", ""},
		{"bad-unknown-kind", `
  - id: w
    template:
      apiVersion: example.com/v1
      kind: Widget
      metadata:
        name: x`, "Widget", "WaitingForKind"},
		// No CRD can add a kind to a built-in group-version: a typo is an
		// error at once, not a wait that never ends.
		{"bad-builtin-kind", `
  - id: svc
    template:
      apiVersion: v1
      kind: Servise
      metadata:
        name: x`, "unknown kind v1/Servise", "InvalidResourceGraph"},
		{"bad-builtin-kind-apps", `
  - id: d
    template:
      apiVersion: apps/v1
      kind: Deploymnet
      metadata:
        name: x`, "did you mean Deployment?", "InvalidResourceGraph"},
		{"bad-duplicate-id", cm("a", "x", "") + cm("a", "y", ""), `duplicate resource id "a"`, ""},
		{"bad-reserved-id", cm("schema", "x", ""), `"schema" is a reserved word`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := parse(t, base(tc.name, tc.resources))
			applyRGD(t, u)
			got := eventually(t, 20*time.Second, "RGD Inactive", getter(rgdGVR, "", tc.name), func(u *unstructured.Unstructured) bool {
				c := condition(u, "GraphAccepted")
				return str(u, "status", "state") == "Inactive" && c != nil && c["status"] == "False"
			})
			if msg := fmt.Sprint(condition(got, "GraphAccepted")["message"]); !strings.Contains(msg, tc.want) {
				t.Errorf("GraphAccepted message %q does not mention %q", msg, tc.want)
			}
			if r := condition(got, "GraphAccepted")["reason"]; tc.reason != "" && r != tc.reason {
				t.Errorf("GraphAccepted reason %v, want %s", r, tc.reason)
			}
		})
	}
	t.Run("bad-marker", func(t *testing.T) {
		u := parse(t, `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: bad-marker
spec:
  schema:
    apiVersion: v1alpha1
    kind: BadMarker
    spec:
      name: string | frobnicate=true
`)
		applyRGD(t, u)
		got := eventually(t, 20*time.Second, "RGD Inactive", getter(rgdGVR, "", "bad-marker"), func(u *unstructured.Unstructured) bool {
			return str(u, "status", "state") == "Inactive"
		})
		if msg := fmt.Sprint(condition(got, "GraphAccepted")["message"]); !strings.Contains(msg, "frobnicate") {
			t.Errorf("message %q does not name the marker", msg)
		}
	})
}
