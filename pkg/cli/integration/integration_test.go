// Package integration tests the cluster-facing side of the CLI against a
// real local control plane with trellis's controllers running in-process:
// render matches what the controller applies, diff and the live graph read
// the cluster correctly.
package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/cli"
	"github.com/trellis-dev/trellis/pkg/operator"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, testenv.Options{Full: true}))
}

var (
	rgdGVR    = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "resourcegraphdefinitions"}
	webappGVR = schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "webapps"}
	cluster   *cli.Cluster
)

func seed(name string) string { return filepath.Join("..", "testdata", "seeds", name) }

// setup starts the controllers once per package.
func setup(t *testing.T) *cli.Cluster {
	t.Helper()
	env := testenv.Current(t)
	if cluster != nil {
		return cluster
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := operator.Setup(mgr, operator.Options{InstanceWorkers: 2, RGDWorkers: 1, InstallCRDs: true}); err != nil {
		t.Fatal(err)
	}
	go func() {
		if err := mgr.Start(context.Background()); err != nil {
			panic(err)
		}
	}()
	c, err := cli.ConnectConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cluster = c
	return c
}

func load(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func apply(t *testing.T, c *cli.Cluster, gvr schema.GroupVersionResource, u *unstructured.Unstructured) {
	t.Helper()
	_, err := c.Dynamic.Resource(gvr).Namespace(u.GetNamespace()).Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "test", Force: true})
	if err != nil {
		t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, get func() (*unstructured.Unstructured, error), cond func(*unstructured.Unstructured) bool) *unstructured.Unstructured {
	t.Helper()
	var last *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		u, err := get()
		if err != nil {
			return false, nil
		}
		last = u
		return cond(u), nil
	})
	if err != nil {
		dump := []byte("<nothing>")
		if last != nil {
			dump, _ = yaml.Marshal(last.Object)
		}
		t.Fatalf("%s: not reached in %s; last seen:\n%s", what, timeout, dump)
	}
	return last
}

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got, with the test namespace replaced by NAMESPACE, with
// ../testdata/golden/name.
func golden(t *testing.T, name, ns, got string) {
	t.Helper()
	got = strings.ReplaceAll(got, ns, "NAMESPACE")
	path := filepath.Join("..", "testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file:\n--- want\n%s\n--- got\n%s", name, want, got)
	}
}

func state(u *unstructured.Unstructured) string {
	s, _, _ := unstructured.NestedString(u.Object, "status", "state")
	return s
}

// contains reports whether every field of want is in got with the same
// value (lists element by element).
func contains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range w {
			if !contains(g[k], v) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !contains(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(normalize(got), normalize(want))
	}
}

func normalize(v any) any {
	raw, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(raw, &out)
	return out
}

// The seed WebApp end to end: the controller creates the children, and
// `trellis render` of the same files prints exactly what it applied. Then
// diff, the live graph and live validation run against the same cluster.
func TestSeedWebApp(t *testing.T) {
	c := setup(t)
	env := testenv.Current(t)
	ns := env.Namespace(t)
	ctx := context.Background()

	rgd := load(t, seed("000-webapp-rgd.yaml"))
	apply(t, c, rgdGVR, rgd)
	t.Cleanup(func() {
		_ = c.Dynamic.Resource(rgdGVR).Delete(context.Background(), rgd.GetName(), metav1.DeleteOptions{})
	})
	waitFor(t, time.Minute, "RGD Active", func() (*unstructured.Unstructured, error) {
		return c.Dynamic.Resource(rgdGVR).Get(ctx, rgd.GetName(), metav1.GetOptions{})
	}, func(u *unstructured.Unstructured) bool { return state(u) == "Active" })

	inst := load(t, seed("000-webapp-instance.yaml"))
	inst.SetNamespace(ns)
	apply(t, c, webappGVR, inst)
	t.Cleanup(func() {
		_ = c.Dynamic.Resource(webappGVR).Namespace(ns).Delete(context.Background(), inst.GetName(), metav1.DeleteOptions{})
	})
	live := waitFor(t, 2*time.Minute, "WebApp ACTIVE", func() (*unstructured.Unstructured, error) {
		return c.Dynamic.Resource(webappGVR).Namespace(ns).Get(ctx, inst.GetName(), metav1.GetOptions{})
	}, func(u *unstructured.Unstructured) bool { return state(u) == "ACTIVE" })

	t.Run("render matches the controller", func(t *testing.T) {
		docs, err := cli.ReadFiles([]string{seed("000-webapp-rgd.yaml")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		checker := &cli.Checker{Base: cli.Offline(nil)}
		results, _ := checker.Check(docs)
		if len(results) != 1 || !results[0].OK() {
			t.Fatalf("seed RGD does not build offline: %+v", results)
		}
		g := results[0].Graph
		local := load(t, seed("000-webapp-instance.yaml"))
		local.SetUID(live.GetUID()) // the one thing only the apiserver knows
		prepared, problems, err := cli.PrepareInstance(g, local, ns)
		if err != nil || len(problems) > 0 {
			t.Fatal(err, problems)
		}
		// Defaulting matches the apiserver's.
		if !reflect.DeepEqual(normalize(prepared.Object["spec"]), normalize(live.Object["spec"])) {
			t.Errorf("defaulted spec differs:\nrender: %v\nserver: %v", prepared.Object["spec"], live.Object["spec"])
		}
		res := cli.Render(g, prepared, cli.RenderOptions{})
		var kinds []string
		for _, n := range res.Nodes {
			if n.State != "rendered" {
				t.Fatalf("%s: %s %s", n.Node.ID, n.State, n.Reason)
			}
			want := n.Object()
			kinds = append(kinds, want.GetKind())
			got, err := c.Dynamic.Resource(n.Node.GVR).Namespace(want.GetNamespace()).Get(ctx, want.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: %v", n.Node.ID, err)
			}
			// The controller records the hash of exactly what it applied.
			h, hg := want.GetAnnotations()[trt.AnnotationDesiredHash], got.GetAnnotations()[trt.AnnotationDesiredHash]
			if h == "" || h != hg {
				t.Errorf("%s: desired hash %q, the controller applied %q", n.Node.ID, h, hg)
			}
			if !contains(got.Object, want.Object) {
				a, _ := yaml.Marshal(want.Object)
				b, _ := yaml.Marshal(got.Object)
				t.Errorf("%s: rendered object not contained in the live one\nrendered:\n%s\nlive:\n%s", n.Node.ID, a, b)
			}
		}
		if strings.Join(kinds, ",") != "Deployment,Service,Ingress" {
			t.Errorf("rendered %v", kinds)
		}
	})

	t.Run("render agrees with the controller on an instance without data", func(t *testing.T) {
		noName := load(t, filepath.Join("..", "testdata", "instances", "webapp-noname.yaml"))
		noName.SetNamespace(ns)
		apply(t, c, webappGVR, noName)
		t.Cleanup(func() {
			// Gone before the diff and live-graph subtests list instances.
			_ = c.Dynamic.Resource(webappGVR).Namespace(ns).Delete(context.Background(), noName.GetName(), metav1.DeleteOptions{})
			_ = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				_, err := c.Dynamic.Resource(webappGVR).Namespace(ns).Get(ctx, noName.GetName(), metav1.GetOptions{})
				return err != nil, nil
			})
		})
		waitFor(t, time.Minute, "no-name IN_PROGRESS on spec.name", func() (*unstructured.Unstructured, error) {
			return c.Dynamic.Resource(webappGVR).Namespace(ns).Get(ctx, noName.GetName(), metav1.GetOptions{})
		}, func(u *unstructured.Unstructured) bool {
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				if m := c.(map[string]any); m["type"] == "ResourcesReady" {
					return state(u) == "IN_PROGRESS" && strings.Contains(fmt.Sprint(m["message"]), "no such key: name")
				}
			}
			return false
		})
		var out, errOut bytes.Buffer
		ok, err := cli.RunRender(cli.RenderInputs{Inputs: cli.Inputs{Files: []string{seed("000-webapp-rgd.yaml")}},
			Instances: []string{filepath.Join("..", "testdata", "instances", "webapp-noname.yaml")}, Namespace: ns}, &out, &errOut)
		if err != nil || ok {
			t.Errorf("render: ok=%v err=%v, want a failure like the controller's wait\n%s%s", ok, err, out.String(), errOut.String())
		}
		for _, want := range []string{"deployment  Deployment: waiting: the instance does not set what ${schema.spec.name} reads (no such key: name)",
			`ingress     Ingress: waiting: waiting for "deployment"`} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("render lacks %q (the controller's view):\n%s", want, out.String())
			}
		}
	})

	t.Run("validate against the cluster", func(t *testing.T) {
		var out, errOut bytes.Buffer
		ok, err := cli.Validate(cli.Inputs{Files: []string{seed("000-webapp-rgd.yaml")}, Cluster: c.Resolver}, &out, &errOut)
		if err != nil || !ok {
			t.Fatalf("ok=%v err=%v %s", ok, err, errOut.String())
		}
	})

	t.Run("live graph", func(t *testing.T) {
		var out bytes.Buffer
		if err := cli.RunLiveGraph(ctx, c, "webapp/"+inst.GetName(), ns, "text", false, &out); err != nil {
			t.Fatal(err)
		}
		golden(t, "graph-live-webapp.txt", ns, out.String())
		for _, want := range []string{"ACTIVE", "[ready] Deployment default/test-app", "[ready] Service default/test-app", "[ready] Ingress default/test-app"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("live graph lacks %q:\n%s", want, out.String())
			}
		}
	})

	t.Run("diff unchanged", func(t *testing.T) {
		var out, errOut bytes.Buffer
		changed, err := cli.RunDiff(ctx, c, cli.Inputs{Files: []string{seed("000-webapp-rgd.yaml")}}, cli.DiffOptions{Namespace: ns}, &out, &errOut)
		if err != nil {
			t.Fatal(err, errOut.String())
		}
		if changed {
			t.Errorf("diff of the applied RGD reports changes:\n%s%s", out.String(), errOut.String())
		}
		if !strings.Contains(out.String(), "CRD unchanged; children: 0 to create, 0 to change, 0 to prune") {
			t.Errorf("unexpected summary:\n%s", out.String())
		}
		// The file leaves spec.schema.group and scope to the API server's
		// defaults: compared after defaulting, the spec is unchanged.
		if !strings.Contains(out.String(), "ResourceGraphDefinition webapp.kro.run: spec unchanged") {
			t.Errorf("the RGD just applied is reported as changed:\n%s", out.String())
		}
	})

	t.Run("diff invalid", func(t *testing.T) {
		raw, err := os.ReadFile(seed("000-webapp-rgd.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(raw), "${schema.spec.replicas}", "${schema.spec.replica}", 1)
		var out, errOut bytes.Buffer
		changed, err := cli.RunDiff(ctx, c, cli.Inputs{Files: []string{"-"}, Stdin: strings.NewReader(s)}, cli.DiffOptions{Namespace: ns}, &out, &errOut)
		if !errors.Is(err, cli.ErrInvalid) || changed {
			t.Errorf("diff of an RGD that does not build: changed=%v err=%v, want ErrInvalid\n%s%s", changed, err, out.String(), errOut.String())
		}
		if !strings.Contains(errOut.String(), "replica") {
			t.Errorf("no diagnostic naming the field:\n%s", errOut.String())
		}
	})

	t.Run("diff changed", func(t *testing.T) {
		raw, err := os.ReadFile(seed("000-webapp-rgd.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		// Drop the Ingress (resource, its status field and its input) and
		// change the Deployment's pull policy.
		s := string(raw)
		s = strings.Replace(s, "      url: ${ingress.status.loadBalancer.ingress[0].hostname}\n", "", 1)
		s = strings.Replace(s, "      ingress:\n        enabled: boolean | default=false\n", "", 1)
		s = s[:strings.Index(s, "    - id: ingress")]
		s = strings.Replace(s, "imagePullPolicy: Always", "imagePullPolicy: IfNotPresent", 1)
		var out, errOut bytes.Buffer
		changed, err := cli.RunDiff(ctx, c, cli.Inputs{Files: []string{"-"}, Stdin: strings.NewReader(s)}, cli.DiffOptions{Namespace: ns}, &out, &errOut)
		if err != nil {
			t.Fatal(err, errOut.String())
		}
		golden(t, "diff-webapp.txt", ns, out.String())
		if !changed {
			t.Error("no change reported")
		}
		for _, want := range []string{
			"ResourceGraphDefinition webapp.kro.run: spec would change",
			"webapp.kro.run: CRD would be updated (breaking); children: 0 to create, 1 to change, 1 to prune",
			"would be updated; BREAKING changes:",
			"ingress",
			"~ Deployment default/test-app (resources[deployment]) would change:",
			"-          imagePullPolicy: Always",
			"+          imagePullPolicy: IfNotPresent",
			"- Ingress default/test-app (resources[ingress]) would be pruned",
			"1 to change, 1 to prune",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("diff output lacks %q:\n%s", want, out.String())
			}
		}
		// Nothing was written.
		dep, err := c.Dynamic.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace("default").Get(ctx, "test-app", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cs, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
		if p := cs[0].(map[string]any)["imagePullPolicy"]; p != "Always" {
			t.Errorf("diff changed the cluster: imagePullPolicy %v", p)
		}
	})
}

// A collection and a selector externalRef: render, the live graph and diff
// agree with what the controller does.
func TestFleetCollection(t *testing.T) {
	c := setup(t)
	env := testenv.Current(t)
	ns := env.Namespace(t)
	ctx := context.Background()
	cms := schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

	apply(t, c, nsGVR, &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "shared"}}})
	peer := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "peer-one", "namespace": "shared", "labels": map[string]any{"team": "core"}}}}
	apply(t, c, cms, peer)

	rgdPath := filepath.Join("..", "testdata", "features", "fleet-rgd.yaml")
	rgd := load(t, rgdPath)
	apply(t, c, rgdGVR, rgd)
	t.Cleanup(func() {
		_ = c.Dynamic.Resource(rgdGVR).Delete(context.Background(), rgd.GetName(), metav1.DeleteOptions{})
	})
	waitFor(t, time.Minute, "RGD Active", func() (*unstructured.Unstructured, error) {
		return c.Dynamic.Resource(rgdGVR).Get(ctx, rgd.GetName(), metav1.GetOptions{})
	}, func(u *unstructured.Unstructured) bool { return state(u) == "Active" })
	fleets := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: "fleets"}
	inst := load(t, filepath.Join("..", "testdata", "features", "fleet-instance.yaml"))
	inst.SetNamespace(ns)
	apply(t, c, fleets, inst)
	live := waitFor(t, time.Minute, "Fleet ACTIVE", func() (*unstructured.Unstructured, error) {
		return c.Dynamic.Resource(fleets).Namespace(ns).Get(ctx, inst.GetName(), metav1.GetOptions{})
	}, func(u *unstructured.Unstructured) bool { return state(u) == "ACTIVE" })

	// render, with the peer as observed state, matches every applied object.
	docs, _ := cli.ReadFiles([]string{rgdPath}, nil)
	results, _ := (&cli.Checker{Base: cli.Offline(nil)}).Check(docs)
	g := results[0].Graph
	local := inst.DeepCopy()
	local.SetUID(live.GetUID())
	prepared, _, err := cli.PrepareInstance(g, local, ns)
	if err != nil {
		t.Fatal(err)
	}
	livePeer, err := c.Dynamic.Resource(cms).Namespace("shared").Get(ctx, "peer-one", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := cli.Render(g, prepared, cli.RenderOptions{Observed: []*unstructured.Unstructured{livePeer}})
	rendered := 0
	for _, n := range res.Nodes {
		if n.State == "external" {
			continue
		}
		if n.State != "rendered" {
			t.Fatalf("%s: %s %s", n.Node.ID, n.State, n.Reason)
		}
		for _, ro := range n.Objects {
			rendered++
			got, err := c.Dynamic.Resource(cms).Namespace(ro.Object.GetNamespace()).Get(ctx, ro.Object.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: %v", ro.Object.GetName(), err)
			}
			if h := ro.Object.GetAnnotations()[trt.AnnotationDesiredHash]; h != got.GetAnnotations()[trt.AnnotationDesiredHash] {
				t.Errorf("%s: desired hash %s, controller applied %s", ro.Object.GetName(), h, got.GetAnnotations()[trt.AnnotationDesiredHash])
			}
		}
	}
	if rendered != 3 {
		t.Errorf("rendered %d objects, want 3 (2 workers + summary)", rendered)
	}

	var out bytes.Buffer
	if err := cli.RunLiveGraph(ctx, c, "fleet/"+inst.GetName(), ns, "text", false, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[ready] 1 configmaps matching team=core", "[ready] 2 of 2 configmaps", "[ready] ConfigMap " + ns + "/blue-summary"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("live graph lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	var errOut bytes.Buffer
	changed, err := cli.RunDiff(ctx, c, cli.Inputs{Files: []string{rgdPath}}, cli.DiffOptions{Namespace: ns}, &out, &errOut)
	if err != nil || changed {
		t.Errorf("diff of the applied RGD: changed=%v err=%v\n%s%s", changed, err, out.String(), errOut.String())
	}
	raw, _ := os.ReadFile(rgdPath)
	s := strings.Replace(string(raw), "who: ${name}", "who: worker-${name}", 1)
	out.Reset()
	changed, err = cli.RunDiff(ctx, c, cli.Inputs{Files: []string{"-"}, Stdin: strings.NewReader(s)}, cli.DiffOptions{Namespace: ns}, &out, &errOut)
	if err != nil || !changed || !strings.Contains(out.String(), "2 to change") || !strings.Contains(out.String(), "+  who: worker-api") {
		t.Errorf("diff of the changed RGD: changed=%v err=%v\n%s%s", changed, err, out.String(), errOut.String())
	}
}
