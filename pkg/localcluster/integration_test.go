package localcluster_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trellis-dev/trellis/pkg/localcluster"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{Full: true}))
}

// eventually polls cond until it returns true or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s (last error: %v)", what, timeout, lastErr)
}

func TestDeploymentBecomesAvailable(t *testing.T) {
	env := testenv.Current(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}},
			},
		},
	}
	if err := env.Client.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "deployment availableReplicas 2", func() (bool, error) {
		var got appsv1.Deployment
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(d), &got); err != nil {
			return false, err
		}
		return got.Status.AvailableReplicas == 2, nil
	})
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if !strings.HasPrefix(p.Spec.NodeName, "kwok-node-") || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: node %q phase %s, want a kwok node and Running", p.Name, p.Spec.NodeName, p.Status.Phase)
		}
	}
}

func TestNamespaceDeletionFinishes(t *testing.T) {
	env := testenv.Current(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "deleteme-"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: ns.Name}, Data: map[string]string{"k": "v"}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, ns); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, "namespace deleted", func() (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(ns), &corev1.Namespace{})
		return apierrors.IsNotFound(err), err
	})
}

func TestGarbageCollection(t *testing.T) {
	env := testenv.Current(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owner", Namespace: ns}}
	if err := env.Client.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	child := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "child", Namespace: ns, OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID,
	}}}}
	if err := env.Client.Create(ctx, child); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, owner); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "child garbage-collected", func() (bool, error) {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(child), &corev1.ConfigMap{})
		return apierrors.IsNotFound(err), err
	})
}

// TestAPIServerFeatures checks what trellis relies on: server-side apply,
// CRDs, OpenAPI v3 discovery and the apiserver's request metrics.
func TestAPIServerFeatures(t *testing.T) {
	env := testenv.Current(t)
	ns := env.Namespace(t)
	ctx := context.Background()

	cm := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "applied", "namespace": ns},
		"data":     map[string]any{"a": "1"},
	}}
	if err := env.Client.Patch(ctx, cm, client.Apply, client.FieldOwner("trellis-test"), client.ForceOwnership); err != nil {
		t.Fatalf("server-side apply: %v", err)
	}
	if got := cm.GetManagedFields(); len(got) == 0 || got[0].Manager != "trellis-test" || got[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields after apply: %+v", got)
	}

	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.test.trellis.dev"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "test.trellis.dev",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "integer"}}},
					},
				}},
			}},
		},
	}
	if err := env.Client.Create(ctx, crd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), crd) })
	eventually(t, time.Minute, "CRD established", func() (bool, error) {
		var got apiextensionsv1.CustomResourceDefinition
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(crd), &got); err != nil {
			return false, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	// A fresh client discovers the new kind.
	cl, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "test.trellis.dev/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": ns},
		"spec":     map[string]any{"size": int64(3)},
	}}
	eventually(t, time.Minute, "custom resource created", func() (bool, error) {
		err := cl.Create(ctx, w)
		return err == nil || apierrors.IsAlreadyExists(err), err
	})

	rc, err := rest.RESTClientFor(restConfigForRaw(env.Config))
	if err != nil {
		t.Fatal(err)
	}
	body, err := rc.Get().AbsPath("/openapi/v3").DoRaw(ctx)
	if err != nil {
		t.Fatalf("openapi v3 discovery: %v", err)
	}
	if !strings.Contains(string(body), `"apis/test.trellis.dev/v1"`) || !strings.Contains(string(body), `"api/v1"`) {
		t.Errorf("openapi v3 discovery lacks api/v1 or the CRD's group: %.300s", body)
	}
	metrics, err := rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("metrics with the admin certificate: %v", err)
	}
	if !strings.Contains(string(metrics), "apiserver_request_total{") {
		t.Errorf("/metrics has no apiserver_request_total")
	}
}

func restConfigForRaw(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &corev1.SchemeGroupVersion
	c.APIPath = "/api"
	c.NegotiatedSerializer = clientNegotiator()
	return c
}

func TestStartFailsWhenPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = localcluster.Start(context.Background(), localcluster.Options{APIServerPort: port})
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(port)) {
		t.Fatalf("want an error naming port %d, got %v", port, err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

// TestComponentDeathAndStop kills etcd under a running minimal control plane:
// the cluster reports it, and Stop leaves no process and no port behind.
func TestComponentDeathAndStop(t *testing.T) {
	if testenv.Skipped() {
		t.Skip("integration tests off")
	}
	c, err := localcluster.Start(context.Background(), localcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	pids := c.Pids()
	if len(pids) != 2 || pids["etcd"] == 0 || pids["kube-apiserver"] == 0 {
		t.Fatalf("pids: %v, want etcd and kube-apiserver", pids)
	}
	if err := syscall.Kill(pids["etcd"], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("etcd's death was not reported")
	}
	if err := c.Err(); err == nil || !strings.HasPrefix(err.Error(), "etcd exited unexpectedly") {
		t.Errorf("Err() = %v, want one naming etcd", err)
	}
	c.Stop()
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Stop: %v", name, pid, err)
		}
	}
	u, _ := url.Parse(c.Host)
	l, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Errorf("apiserver port still taken after Stop: %v", err)
	} else {
		l.Close()
	}
	// After a failure the logs stay for inspection.
	if _, err := os.Stat(c.LogFile("etcd")); err != nil {
		t.Errorf("etcd log gone after a failure: %v", err)
	}
	os.RemoveAll(c.Dir)
}

// TestStopRemovesTemporaryDir: a clean stop leaves nothing behind.
func TestStopRemovesTemporaryDir(t *testing.T) {
	if testenv.Skipped() {
		t.Skip("integration tests off")
	}
	c, err := localcluster.Start(context.Background(), localcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pids := c.Pids()
	c.Stop()
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) still exists after Stop: %v", name, pid, err)
		}
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("temporary directory %s not removed: %v", c.Dir, err)
	}
}

// TestStartInterrupted: cancelling the start stops what was started.
func TestStartInterrupted(t *testing.T) {
	if testenv.Skipped() {
		t.Skip("integration tests off")
	}
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	go func() {
		// Cancel once etcd is running, i.e. while the apiserver starts.
		for i := 0; i < 300; i++ {
			if _, err := os.Stat(dir + "/logs/kube-apiserver.log"); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: dir})
	if err == nil {
		c.Stop()
		t.Skip("start finished before the cancellation")
	}
	if !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("error %q, want an interruption", err)
	}
	if left := processesMentioning(dir); len(left) > 0 {
		t.Errorf("processes left after an interrupted start: %v", left)
	}
}

// processesMentioning lists the pids whose command line contains s.
func processesMentioning(s string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestDataDirKeepsState: with a data dir, what was stored survives a restart.
func TestDataDirKeepsState(t *testing.T) {
	if testenv.Skipped() {
		t.Skip("integration tests off")
	}
	dataDir := t.TempDir()
	start := func() (*localcluster.Cluster, client.Client) {
		c, err := localcluster.Start(context.Background(), localcluster.Options{DataDir: dataDir})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := client.New(c.Config, client.Options{})
		if err != nil {
			c.Stop()
			t.Fatal(err)
		}
		return c, cl
	}
	c, cl := start()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kept", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if err := cl.Create(context.Background(), cm); err != nil {
		c.Stop()
		t.Fatal(err)
	}
	c.Stop()

	c, cl = start()
	defer c.Stop()
	got := &corev1.ConfigMap{}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "kept"}, got); err != nil {
		t.Fatalf("configmap lost across a restart with --data-dir: %v", err)
	}
	if got.Data["k"] != "v" {
		t.Fatalf("data = %v", got.Data)
	}
}

// TestRestartComponents: etcd and kube-apiserver come back on their ports
// with their data, and neither planned exit counts as a failure.
func TestRestartComponents(t *testing.T) {
	if testenv.Skipped() {
		t.Skip("integration tests off")
	}
	ctx := context.Background()
	c, err := localcluster.Start(ctx, localcluster.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	cl, err := client.New(c.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "survivor", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if err := cl.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	old := c.Pids()
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if err := c.RestartComponent(ctx, name, time.Second); err != nil {
			t.Fatalf("restart %s: %v", name, err)
		}
		if pid := c.Pids()[name]; pid == 0 || pid == old[name] {
			t.Errorf("%s pid %d after the restart, was %d", name, pid, old[name])
		}
	}
	if err := c.StopComponent("kube-apiserver", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := cl.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{}); err == nil {
		t.Error("a stopped apiserver answered")
	}
	if err := c.StartComponent(ctx, "kube-apiserver"); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "the ConfigMap read back", func() (bool, error) {
		got := &corev1.ConfigMap{}
		err := cl.Get(ctx, client.ObjectKeyFromObject(cm), got)
		return err == nil && got.Data["k"] == "v", err
	})
	if err := c.Err(); err != nil {
		t.Errorf("a planned restart was reported as a failure: %v", err)
	}
	if err := c.StartComponent(ctx, "kube-scheduler"); err == nil {
		t.Error("StartComponent of a component the cluster does not run did not fail")
	}
}
