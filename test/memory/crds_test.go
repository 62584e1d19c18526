// Package memory measures the controller's memory with a huge CRD set
// installed (kro#724: kro's memory blew up at start on clusters with
// hundreds of large CRDs). It is a measurement, not a check: it runs only
// with TRELLIS_MEASURE_CRD_MEMORY=1 and prints the figures.
//
//	make build && TRELLIS_MEASURE_CRD_MEMORY=1 TRELLIS_BIN=$PWD/bin/trellis \
//	  go test -count=1 -timeout 30m -v ./test/memory/
package memory

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	trelliscrd "github.com/trellis-dev/trellis/config/crd"
	"github.com/trellis-dev/trellis/pkg/ack/crdgen"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

const envMeasure = "TRELLIS_MEASURE_CRD_MEMORY"

func TestMain(m *testing.M) {
	if os.Getenv(envMeasure) != "1" {
		os.Exit(m.Run()) // the test skips itself; no control plane needed
	}
	os.Exit(testenv.Run(m, testenv.Options{}))
}

// thirdPartyCRDs is how many large third-party-style CRDs are installed
// next to the ACK ones; rgdCount RGDs use some of them.
const (
	thirdPartyCRDs = 200
	rgdCount       = 20
)

var rgdGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}

func TestControllerMemoryWithHugeCRDSet(t *testing.T) {
	if os.Getenv(envMeasure) != "1" {
		t.Skipf("a measurement: set %s=1 to run it", envMeasure)
	}
	env := testenv.Current(t)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	bin := trellisBinary(t)
	ctx := context.Background()

	// Baseline: trellis's own CRDs, one RGD.
	for _, get := range []func() (*apiextv1.CustomResourceDefinition, error){trelliscrd.ResourceGraphDefinition, trelliscrd.GraphRevision} {
		c, err := get()
		if err != nil {
			t.Fatal(err)
		}
		create(t, env.Client, c)
		waitEstablished(t, env.Client, []string{c.Name})
	}
	applyRGDs(t, dyn, 1, func(int) string { return "" })
	base := measure(t, env.Kubeconfig, bin, dyn, 1)

	// Every ACK CRD trellis ships, and 200 large third-party-style CRDs.
	var names []string
	for _, k := range crdgen.Kinds() {
		c, err := crdgen.CRD(k)
		if err != nil {
			t.Fatal(err)
		}
		create(t, env.Client, c)
		names = append(names, c.Name)
	}
	for i := 0; i < thirdPartyCRDs; i++ {
		c := largeCRD(i)
		create(t, env.Client, c)
		names = append(names, c.Name)
	}
	t.Cleanup(func() {
		for _, n := range names {
			_ = env.Client.Delete(ctx, &apiextv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: n}})
		}
	})
	waitEstablished(t, env.Client, names)
	applyRGDs(t, dyn, rgdCount, func(i int) string {
		return fmt.Sprintf(`
  - id: widget
    template:
      apiVersion: example%d.thirdparty.io/v1
      kind: Widget%d
      metadata: {name: "${schema.metadata.name}"}
      spec: {field0: {leaf0: x}}`, i, i)
	})
	huge := measure(t, env.Kubeconfig, bin, dyn, rgdCount)

	var sb strings.Builder
	fmt.Fprintf(&sb, "\ncontroller memory (kro#724), CRDs: %d ACK + %d third-party (%d properties each)\n", len(crdgen.Kinds()), thirdPartyCRDs, propsPerCRD)
	fmt.Fprintf(&sb, "%-34s %10s %10s\n", "setup", "RSS MiB", "peak MiB")
	fmt.Fprintf(&sb, "%-34s %10.1f %10.1f\n", "trellis's own CRDs, 1 RGD", base.rss, base.peak)
	fmt.Fprintf(&sb, "%-34s %10.1f %10.1f\n", fmt.Sprintf("huge CRD set, %d RGDs", rgdCount), huge.rss, huge.peak)
	t.Log(sb.String())
}

type mem struct{ rss, peak float64 } // MiB

// measure starts the controller, waits until n RGDs are Active and the
// process settles, and reads its resident and peak memory.
func measure(t *testing.T, kubeconfig, bin string, dyn dynamic.Interface, n int) mem {
	t.Helper()
	logFile, err := os.Create(filepath.Join(t.TempDir(), "trellis.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "controller", "--kubeconfig", kubeconfig, "--metrics-bind-address=0",
		"--health-probe-bind-address=0", "--ack-services=none")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() }()
	err = wait.PollUntilContextTimeout(context.Background(), time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := dyn.Resource(rgdGVR).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		active := 0
		for _, u := range l.Items {
			if s, _, _ := unstructured.NestedString(u.Object, "status", "state"); s == "Active" {
				active++
			}
		}
		return active >= n, nil
	})
	if err != nil {
		t.Fatalf("%d RGDs not Active within 5m (log: %s)", n, logFile.Name())
	}
	time.Sleep(15 * time.Second) // let start-up garbage be collected
	return mem{rss: procStatusMiB(t, cmd.Process.Pid, "VmRSS"), peak: procStatusMiB(t, cmd.Process.Pid, "VmHWM")}
}

func procStatusMiB(t *testing.T, pid int, field string) float64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb / 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// applyRGDs applies RGDs mem-0..mem-(n-1); resources(i) adds to a
// ConfigMap resource.
func applyRGDs(t *testing.T, dyn dynamic.Interface, n int, resources func(int) string) {
	t.Helper()
	for i := 0; i < n; i++ {
		doc := fmt.Sprintf(`{"apiVersion":"kro.run/v1alpha1","kind":"ResourceGraphDefinition","metadata":{"name":"mem-%d"}}`, i)
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON([]byte(doc)); err != nil {
			t.Fatal(err)
		}
		spec := fmt.Sprintf(`
schema: {apiVersion: v1alpha1, kind: Mem%d, spec: {}}
resources:
  - id: cm
    template: {apiVersion: v1, kind: ConfigMap, metadata: {name: "${schema.metadata.name}"}}%s`, i, resources(i))
		var m map[string]any
		if err := yamlUnmarshal(spec, &m); err != nil {
			t.Fatal(err)
		}
		u.Object["spec"] = m
		if _, err := dyn.Resource(rgdGVR).Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "memory-test", Force: true}); err != nil {
			t.Fatal(err)
		}
		name := u.GetName()
		t.Cleanup(func() {
			_ = dyn.Resource(rgdGVR).Delete(context.Background(), name, metav1.DeleteOptions{})
		})
	}
}

func create(t *testing.T, c client.Client, crd *apiextv1.CustomResourceDefinition) {
	t.Helper()
	if err := c.Create(context.Background(), crd); err != nil {
		t.Fatalf("create CRD %s: %v", crd.Name, err)
	}
}

func waitEstablished(t *testing.T, c client.Client, names []string) {
	t.Helper()
	for _, n := range names {
		err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			crd := &apiextv1.CustomResourceDefinition{}
			if err := c.Get(ctx, client.ObjectKey{Name: n}, crd); err != nil {
				return false, nil
			}
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established", n)
		}
	}
}

func trellisBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TRELLIS_BIN"); p != "" {
		return p
	}
	p := filepath.Join(t.TempDir(), "trellis")
	build := exec.Command("go", "build", "-o", p, "github.com/trellis-dev/trellis/cmd/trellis")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build ./cmd/trellis: %v", err)
	}
	return p
}
