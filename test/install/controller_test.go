package install

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/bench"
	"github.com/trellis-dev/trellis/pkg/testenv"
	"github.com/trellis-dev/trellis/test/chart"
)

var (
	rgdGVR    = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
	webappGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "webapps"}
)

// chartIdentityKubeconfig writes a kubeconfig that authenticates as the test's
// admin but impersonates the chart's ServiceAccount.
func chartIdentityKubeconfig(t *testing.T, env *testenv.Env) string {
	t.Helper()
	path, err := chart.IdentityKubeconfig(env.Kubeconfig, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// deploymentArgs are the controller flags of the chart's Deployment in dist/<file>.
func deploymentArgs(t *testing.T, file string) []string {
	t.Helper()
	args, err := chart.DeploymentArgs(readDist(t, file))
	if err != nil {
		t.Fatalf("dist/%s: %v", file, err)
	}
	return args
}

func buildTrellis(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "trellis")
	build := exec.Command("go", "build", "-o", bin, "./cmd/trellis")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startController runs `trellis controller` with the
// Deployment's flags and the chart's identity, out of cluster.
func startController(t *testing.T, bin, kubeconfig string, args []string) (logs *bytes.Buffer, alive func() bool) {
	t.Helper()
	args = append([]string{"controller"}, args...)
	// Out of cluster: no ports to bind (pflag: the last value wins).
	args = append(append(args, chart.OutOfCluster(kubeconfig)...), "--zap-encoder=console")
	cmd := exec.Command(bin, args...)
	logs = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("controller log (tail):\n%s", tail(logs.String(), 60))
		}
	})
	return logs, func() bool {
		select {
		case <-exited:
			return false
		default:
			return true
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func readYAML(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func conditionsText(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var b strings.Builder
	for _, c := range conds {
		m, _ := c.(map[string]any)
		fmt.Fprintf(&b, "%v=%v (%v): %v\n", m["type"], m["status"], m["reason"], m["message"])
	}
	return b.String()
}

// TestControllerWithChartIdentity: under rbac.mode=aggregation the controller
// accepts the seed WebApp's ResourceGraphDefinition with the static role
// alone; the instance reports the permission it lacks for its children (verb,
// group, resource) without the controller crashing, and converges to ACTIVE
// once a platform team adds an aggregated ClusterRole for those kinds.
func TestControllerWithChartIdentity(t *testing.T) {
	env := testenv.Current(t)
	// Build first: the timeouts below are for the cluster, not the compiler.
	kubeconfig := chartIdentityKubeconfig(t, env)
	args := deploymentArgs(t, "install.yaml")
	bin := buildTrellis(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	ensureNamespace(t, env.Client, releaseNamespace)
	// kube-controller-manager fills the aggregated role from the static one.
	if err := chart.Install(ctx, env.Config, readDist(t, "install.yaml")); err != nil {
		t.Fatal(err)
	}

	logs, alive := startController(t, bin, kubeconfig, args)
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}

	rgd := readYAML(t, "../../examples/webapp/rgd.yaml")
	if _, err := dyn.Resource(rgdGVR).Apply(ctx, rgd.GetName(), rgd, metav1.ApplyOptions{FieldManager: "test", Force: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(rgdGVR).Delete(context.Background(), rgd.GetName(), metav1.DeleteOptions{})
	})
	var last *unstructured.Unstructured
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(rgdGVR).Get(ctx, rgd.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = u
		state, _, _ := unstructured.NestedString(u.Object, "status", "state")
		return state == "Active", nil
	})
	if err != nil {
		t.Fatalf("RGD not Active with the static role alone: %v\n%s", err, conditionsText(last))
	}

	ns := env.Namespace(t)
	inst := readYAML(t, "../../examples/webapp/instance.yaml")
	inst.SetNamespace(ns)
	if err := unstructured.SetNestedField(inst.Object, ns, "spec", "namespace"); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(webappGVR).Namespace(ns).Create(ctx, inst, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dyn.Resource(webappGVR).Namespace(ns).Delete(context.Background(), inst.GetName(), metav1.DeleteOptions{})
	})

	// Without a role for its children the instance names what is missing.
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(webappGVR).Namespace(ns).Get(ctx, inst.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = u
		c := conditionsText(u)
		return strings.Contains(c, `resource "deployments"`) && strings.Contains(c, `API group "apps"`) && strings.Contains(c, "cannot "), nil
	})
	if err != nil {
		t.Fatalf("no condition names the missing permission (verb, group apps, resource deployments): %v\n%s", err, conditionsText(last))
	}
	t.Logf("without the role:\n%s", conditionsText(last))
	// No retry storm: over a quiet window the refused requests for the
	// children's kinds stay a handful (the instance backs off to 15 s, the
	// informers to 30 s); a storm would be hundreds. A bound on a rate, not
	// on trellis's speed.
	before := forbidden(t, env)
	time.Sleep(10 * time.Second)
	if n := forbidden(t, env) - before; n > 20 {
		t.Errorf("%v requests refused with 403 in 10 s without the role: a retry storm", n)
	} else {
		t.Logf("%v requests refused with 403 in 10 s without the role", n)
	}
	if !alive() {
		t.Fatalf("the controller exited")
	}

	// The platform team's aggregated role for the kinds the WebApp creates.
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "trellis-test:webapp-children", Labels: map[string]string{"rbac.kro.run/aggregate-to-controller": "true"}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"services"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
		},
	}
	if err := env.Client.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), role) })
	added := time.Now()
	// Within seconds: the instance retries forbidden writes at least every
	// 15s, the children's informers list again within their 30s backoff.
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 45*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := dyn.Resource(webappGVR).Namespace(ns).Get(ctx, inst.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = u
		state, _, _ := unstructured.NestedString(u.Object, "status", "state")
		return state == "ACTIVE", nil
	})
	if err != nil {
		t.Fatalf("instance not ACTIVE after the role was added: %v\n%s", err, conditionsText(last))
	}
	t.Logf("ACTIVE %s after the aggregated role was added", time.Since(added).Round(100*time.Millisecond))
	if !alive() {
		t.Fatalf("the controller exited")
	}
	if n := strings.Count(logs.String(), "panic"); n > 0 {
		t.Errorf("the controller log has %d panic(s)", n)
	}
}

func clientKey(name string) client.ObjectKey { return client.ObjectKey{Name: name} }

// forbidden counts the API server's 403 answers so far (every client: only
// the controller is refused anything here).
func forbidden(t *testing.T, env *testenv.Env) float64 {
	t.Helper()
	raw, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	samples, err := bench.ParseMetric(bytes.NewReader(raw), "apiserver_request_total")
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for k, v := range bench.RequestsFromSamples(samples) {
		if k.Code == "403" {
			n += v
		}
	}
	return n
}
