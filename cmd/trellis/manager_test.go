package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/spf13/pflag"
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

func TestMain(m *testing.M) {
	if os.Getenv(interruptHelperEnv) != "" {
		interruptHelper() // a child of TestSecondInterruptEndsAtOnce
	}
	os.Exit(testenv.Run(m, testenv.Options{}))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// `trellis controller` takes the leader-election lease and serves its
// probes and metrics, honours its flags (here --child-labels=kro), and
// stops when its context ends.
func TestControllerLeaderElectionAndEndpoints(t *testing.T) {
	env := testenv.Current(t)
	probe, metrics := freePort(t), freePort(t)
	o := &controllerOptions{}
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	o.bindFlags(fs, ":8078", ":8079")
	if err := fs.Parse([]string{
		"--leader-elect", "--leader-election-namespace=default", "--ack-services=none", "--child-labels=kro",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probe),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", metrics),
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runControllers(ctx, env.Config, o) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("controller returned %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("controller did not stop")
		}
	}()

	lease := &coordinationv1.Lease{}
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		if env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "controller.trellis.dev"}, lease) != nil {
			return false, nil
		}
		return lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "", nil
	})
	if err != nil {
		t.Fatal("no leader-election lease held")
	}
	for _, url := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/healthz", probe),
		fmt.Sprintf("http://127.0.0.1:%d/readyz", probe),
		fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics),
	} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", url, resp.Status)
		}
	}

	// Without GOGC in the environment the controller collects at 50%.
	if os.Getenv("GOGC") == "" {
		prev := debug.SetGCPercent(100)
		debug.SetGCPercent(prev)
		if prev != 50 {
			t.Errorf("GC percent = %d, want 50", prev)
		}
	}

	// --child-labels=kro: children carry kro's full label set.
	rgd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(labelsRGD), &rgd.Object); err != nil {
		t.Fatal(err)
	}
	ctx2 := context.Background()
	err = wait.PollUntilContextTimeout(ctx2, 500*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		return env.Client.Create(ctx, rgd) == nil, nil // the RGD CRD may not be installed yet
	})
	if err != nil {
		t.Fatal("RGD not created")
	}
	inst := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kro.run/v1alpha1", "kind": "LabelApp",
		"metadata": map[string]any{"name": "l1", "namespace": "default"},
	}}
	err = wait.PollUntilContextTimeout(ctx2, 500*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		return env.Client.Create(ctx, inst) == nil, nil // the LabelApp CRD comes with the RGD
	})
	if err != nil {
		t.Fatal("LabelApp not created")
	}
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	err = wait.PollUntilContextTimeout(ctx2, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: "default", Name: "l1-labels"}, cm) == nil, nil
	})
	if err != nil {
		t.Fatal("child ConfigMap not created")
	}
	l := cm.GetLabels()
	if l["kro.run/instance-kind"] != "LabelApp" || l["kro.run/instance-group"] != "kro.run" || l["app.kubernetes.io/managed-by"] != "kro" ||
		l["kro.run/instance-namespace"] != "default" || l["kro.run/instance-name"] != "l1" {
		t.Errorf("--child-labels=kro: child labels = %v", l)
	}
	_ = env.Client.Delete(ctx2, inst)
}

const labelsRGD = `
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: labelapps.kro.run
spec:
  schema:
    apiVersion: v1alpha1
    kind: LabelApp
    spec: {}
  resources:
    - id: cm
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.metadata.name}-labels
        data:
          k: v
`

// The "trellis is up" banner is printed once ready is closed: by then
// trellis's CRDs are installed and the controllers' caches synced, so an
// RGD applied right after the banner is reconciled.
func TestControllersReady(t *testing.T) {
	env := testenv.Current(t)
	o := &controllerOptions{}
	fs := pflag.NewFlagSet("up", pflag.ContinueOnError)
	o.bindFlags(fs, "0", "0")
	if err := fs.Parse([]string{"--ack-services=none"}); err != nil {
		t.Fatal(err)
	}
	o.skipNameValidation = true // another test of this package ran the controllers already
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	start := time.Now()
	go func() { done <- runControllersReady(ctx, env.Config, o, ready) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-ready:
	case err := <-done:
		done <- err // for the deferred wait
		t.Fatalf("controllers stopped before ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("controllers not ready within 60s")
	}
	t.Logf("controllers ready %s after start", time.Since(start).Round(10*time.Millisecond))
	crd := &unstructured.Unstructured{}
	crd.SetAPIVersion("apiextensions.k8s.io/v1")
	crd.SetKind("CustomResourceDefinition")
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "resourcegraphdefinitions.kro.run"}, crd); err != nil {
		t.Fatalf("ready, but the RGD CRD is not there: %v", err)
	}
}
