package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/trellis-dev/trellis/pkg/graph"
	"github.com/trellis-dev/trellis/pkg/graph/resolver/builtin"
	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

var update = flag.Bool("update", false, "rewrite golden files")

// ackCRDs are trellis's own ACK CRDs (s3 Bucket, dynamodb Table);
// TRELLIS_TEST_ACK_CRDS points elsewhere (e.g. at a checkout's copy).
var ackCRDs = func() string {
	if d := os.Getenv("TRELLIS_TEST_ACK_CRDS"); d != "" {
		return d
	}
	return "../../config/crd/ack"
}()

// golden compares got with testdata/golden/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
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
		t.Errorf("%s differs from the golden file:\n%s", name, unifiedDiff("golden", "got", string(want), got, 3))
	}
}

func seeds(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join("testdata", "seeds", n)
	}
	return out
}

var seedRGDs = []string{
	"000-db-webstack-rgd.yaml", "000-podidentity-rgd.yaml", "000-rds-rgd.yaml", "000-s3bucket-rgd.yaml",
	"000-s3bucketadopt-rgd.yaml", "000-webapp-rds-rgd.yaml", "000-webapp-rgd.yaml", "001-cartsstack-rgd.yaml",
	"004-application-rgd.yaml",
}

// Every seed RGD validates offline, except podidentity, whose status reads
// a resource ("serviceaccount") that the RGD does not define.
func TestValidateSeeds(t *testing.T) {
	var out, errOut bytes.Buffer
	ok, err := Validate(Inputs{Files: seeds(seedRGDs...), CRDPaths: []string{"testdata/crds", ackCRDs}}, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("validate reported success, want the podidentity failure")
	}
	for _, f := range seedRGDs {
		failed := strings.Contains(errOut.String(), f+":")
		if f == "000-podidentity-rgd.yaml" {
			if !failed || !strings.Contains(errOut.String(), "serviceaccount") {
				t.Errorf("podidentity: want an error naming serviceaccount, got %q", errOut.String())
			}
			continue
		}
		if failed || !strings.Contains(out.String(), f+":") {
			t.Errorf("%s does not validate: %s", f, errOut.String())
		}
	}
	golden(t, "validate-seeds.txt", out.String()+"--- stderr\n"+errOut.String())
}

// Each seed RGD alone, with only what it needs.
func TestValidateSeedsOneByOne(t *testing.T) {
	for _, f := range seedRGDs {
		t.Run(f, func(t *testing.T) {
			files := seeds(f)
			if f == "000-db-webstack-rgd.yaml" {
				// The nested kinds come from the other RGDs, given as --crds.
				files = seeds(f)
			}
			crds := []string{"testdata/crds", ackCRDs}
			if f == "000-db-webstack-rgd.yaml" {
				crds = append(crds, seeds("000-rds-rgd.yaml", "000-podidentity-rgd.yaml", "000-webapp-rds-rgd.yaml")...)
			}
			var out, errOut bytes.Buffer
			ok, err := Validate(Inputs{Files: files, CRDPaths: crds}, &out, &errOut)
			if err != nil {
				t.Fatal(err)
			}
			if want := f != "000-podidentity-rgd.yaml"; ok != want {
				t.Errorf("ok = %v, want %v; stderr:\n%s", ok, want, errOut.String())
			}
		})
	}
}

// The bad-RGD corpus: each fails with a file:line:col message naming the
// culprit.
func TestValidateBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) == 0 {
		t.Fatal("no bad RGDs")
	}
	var all strings.Builder
	for _, f := range files {
		var out, errOut bytes.Buffer
		ok, err := Validate(Inputs{Files: []string{f}}, &out, &errOut)
		if err != nil {
			t.Fatal(err)
		}
		if ok || out.Len() > 0 {
			t.Errorf("%s: validated, want an error", f)
		}
		if !strings.HasPrefix(errOut.String(), f+":") || strings.Count(errOut.String(), "\n") != 1 {
			t.Errorf("%s: want one file:line:col line, got %q", f, errOut.String())
		}
		all.WriteString(errOut.String())
	}
	golden(t, "validate-bad.txt", all.String())
}

func TestValidateStdin(t *testing.T) {
	raw, err := os.ReadFile("testdata/bad/wrong-type.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	ok, err := Validate(Inputs{Files: []string{"-"}, Stdin: bytes.NewReader(raw)}, &out, &errOut)
	if err != nil || ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	want := "<stdin>:20:21: resources[deployment].template.spec.replicas: expected integer, got string\n"
	if errOut.String() != want {
		t.Errorf("got %q, want %q", errOut.String(), want)
	}
}

func runRender(t *testing.T, in RenderInputs) string {
	t.Helper()
	var out, errOut bytes.Buffer
	ok, err := RunRender(in, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if errOut.Len() > 0 {
		s += "--- stderr\n" + errOut.String()
	}
	if !ok {
		s += "--- failed\n"
	}
	return s
}

func TestRenderWebApp(t *testing.T) {
	got := runRender(t, RenderInputs{Inputs: Inputs{Files: seeds("000-webapp-rgd.yaml")}, Instances: seeds("000-webapp-instance.yaml")})
	golden(t, "render-webapp.yaml", got)
	// Every object parses and carries what the controller puts on children.
	docs, err := ParseDocuments("out", []byte(got))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range docs {
		u := d.Unstructured()
		kinds = append(kinds, u.GetKind())
		if u.GetLabels()[trt.LabelNodeID] == "" || u.GetAnnotations()[trt.AnnotationDesiredHash] == "" {
			t.Errorf("%s: missing node label or desired hash", u.GetKind())
		}
	}
	if strings.Join(kinds, ",") != "Deployment,Service,Ingress" {
		t.Errorf("kinds in order: %v", kinds)
	}
}

func TestRenderWebAppObserved(t *testing.T) {
	got := runRender(t, RenderInputs{Inputs: Inputs{Files: seeds("000-webapp-rgd.yaml")}, Instances: seeds("000-webapp-instance.yaml"),
		Observed: []string{"testdata/render/webapp-observed.yaml"}})
	golden(t, "render-webapp-observed.yaml", got)
	if !strings.Contains(got, "url: test-app-123.us-west-2.elb.amazonaws.com") {
		t.Error("status projection does not use the observed Ingress")
	}
}

// The service is skipped by includeWhen; the ingress reads it, so it is
// skipped too.
func TestRenderSkipped(t *testing.T) {
	in := RenderInputs{Inputs: Inputs{Files: seeds("000-webapp-rgd.yaml"), Stdin: strings.NewReader(`
apiVersion: kro.run/v1alpha1
kind: WebApp
metadata:
  name: quiet
  namespace: team-a
spec:
  name: quiet
  service:
    enabled: false
  ingress:
    enabled: true
`)}, Instances: []string{"-"}}
	golden(t, "render-webapp-skipped.yaml", runRender(t, in))
}

// Nested RGD kinds; fields that read status not yet known are shown as
// unresolved with the reason.
func TestRenderDbWebStack(t *testing.T) {
	in := RenderInputs{Inputs: Inputs{
		Files:    seeds("000-db-webstack-rgd.yaml"),
		CRDPaths: append([]string{"testdata/crds", ackCRDs}, seeds("000-rds-rgd.yaml", "000-podidentity-rgd.yaml", "000-webapp-rds-rgd.yaml")...),
	}, Instances: seeds("000-db-webstack-instance.yaml")}
	got := runRender(t, in)
	golden(t, "render-db-webstack.yaml", got)
	if !strings.Contains(got, "policyARN: ${awsDatabase.status.secretPolicyARN} # unresolved:") {
		t.Error("unresolved field not shown")
	}
}

func TestRenderACK(t *testing.T) {
	for _, c := range []struct{ rgd, inst, golden string }{
		{"001-cartsstack-rgd.yaml", "002-cartsstack-instance.yaml", "render-cartsstack.yaml"},
		{"004-application-rgd.yaml", "004-application-instance.yaml", "render-application.yaml"},
		{"000-s3bucket-rgd.yaml", "000-s3bucket-instance.yaml", "render-s3bucket.yaml"},
	} {
		t.Run(c.rgd, func(t *testing.T) {
			got := runRender(t, RenderInputs{Inputs: Inputs{Files: seeds(c.rgd), CRDPaths: []string{"testdata/crds", ackCRDs}}, Instances: seeds(c.inst)})
			golden(t, c.golden, got)
		})
	}
}

// An instance the generated CRD rejects is reported, not rendered.
func TestRenderInvalidInstance(t *testing.T) {
	in := RenderInputs{Inputs: Inputs{Files: seeds("000-webapp-rgd.yaml")}, Instances: []string{"testdata/instances/webapp-bad.yaml"}}
	got := runRender(t, in)
	golden(t, "render-invalid-instance.txt", got)
	for _, want := range []string{"webapp-bad.yaml:7:13: spec.replicas", "webapp-bad.yaml:8:3: spec: unknown field \"colour\""} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !strings.HasSuffix(got, "--- failed\n") {
		t.Error("render did not fail")
	}
}

func TestPrepareInstanceDefaults(t *testing.T) {
	docs, err := ReadFiles(seeds("000-webapp-rgd.yaml", "000-webapp-instance.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	rgd, _ := docs[0].RGD()
	g, err := graph.Build(rgd, builtin.New())
	if err != nil {
		t.Fatal(err)
	}
	inst, problems, err := PrepareInstance(g, docs[1].Unstructured(), "")
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	for path, want := range map[string]any{"image": "nginx", "replicas": int64(1), "port": int64(80), "namespace": "default", "serviceAccount": "default"} {
		got, _, _ := unstructured.NestedFieldNoCopy(inst.Object, "spec", path)
		if got != want {
			t.Errorf("spec.%s = %#v, want %#v", path, got, want)
		}
	}
	if en, _, _ := unstructured.NestedBool(inst.Object, "spec", "service", "enabled"); !en {
		t.Error("spec.service.enabled not defaulted to true")
	}
	if inst.GetNamespace() != "default" {
		t.Errorf("namespace %q", inst.GetNamespace())
	}
}

func TestCRD(t *testing.T) {
	var out, errOut bytes.Buffer
	ok, err := RunCRD(Inputs{Files: seeds("000-webapp-rgd.yaml", "001-cartsstack-rgd.yaml"), CRDPaths: []string{ackCRDs}}, &out, &errOut)
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v %s", ok, err, errOut.String())
	}
	golden(t, "crd-webapp-cartsstack.yaml", out.String())
}

func TestGraph(t *testing.T) {
	for _, format := range GraphFormats {
		for _, f := range []string{"000-webapp-rgd.yaml", "001-cartsstack-rgd.yaml", "000-rds-rgd.yaml"} {
			var out, errOut bytes.Buffer
			ok, err := RunGraph(Inputs{Files: seeds(f), CRDPaths: []string{"testdata/crds", ackCRDs}}, format, false, &out, &errOut)
			if err != nil || !ok {
				t.Fatalf("%s %s: ok=%v err=%v %s", f, format, ok, err, errOut.String())
			}
			golden(t, "graph-"+strings.TrimSuffix(f, "-rgd.yaml")+"."+format, out.String())
		}
	}
}

func TestGraphLiveStatesText(t *testing.T) {
	docs, _ := ReadFiles(seeds("000-webapp-rgd.yaml"), nil)
	rgd, _ := docs[0].RGD()
	g, err := graph.Build(rgd, builtin.New())
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]*NodeState{
		"deployment": {State: "ready", Object: "Deployment default/test-app"},
		"service":    {State: "skipped", Reason: "includeWhen is false"},
		"ingress":    {State: "skipped", Reason: `dependency "service" is excluded`},
	}
	for _, color := range []bool{false, true} {
		var out bytes.Buffer
		if err := WriteGraph(&out, "text", g, "WebApp default/test-app: ACTIVE", states, color); err != nil {
			t.Fatal(err)
		}
		name := "graph-live.txt"
		if color {
			name = "graph-live-color.txt"
		}
		golden(t, name, out.String())
	}
}

func TestLocate(t *testing.T) {
	docs, err := ParseDocuments("x.yaml", []byte(`
spec:
  labels:
    app.kubernetes.io/name: x
    app: y
  list:
    - a: 1
    - b: [2, 3]
`))
	if err != nil {
		t.Fatal(err)
	}
	root := docs[0].Root
	for path, want := range map[string]int{
		"spec.labels.app.kubernetes.io/name": 4, "spec.labels.app": 5, "spec.list[1].b[1]": 8, "spec.list[0].a": 7,
	} {
		n, _, ok := Locate(root, path)
		if !ok || n.Line != want {
			t.Errorf("%s: line %d ok=%v, want line %d", path, n.Line, ok, want)
		}
	}
	if _, _, ok := Locate(root, "spec.nope"); ok {
		t.Error("spec.nope found")
	}
}

func TestSetPath(t *testing.T) {
	obj := map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(80)}}}}
	setPath(obj, "spec.ports[0].targetPort", "${x}")
	setPath(obj, "spec.selector.app", "${y}")
	out, err := marshalObject(obj, map[string]string{"spec.selector.app": "# why"}, "")
	if err != nil {
		t.Fatal(err)
	}
	want := "spec:\n  ports:\n    - port: 80\n      targetPort: ${x}\n  selector:\n    app: ${y} # why\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	var v any
	if err := yaml.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
}

func TestUnifiedDiff(t *testing.T) {
	a := "a\nb\nc\nd\ne\nf\ng\nh\n"
	b := "a\nb\nc\nD\ne\nf\ng\nh\ni\n"
	got := unifiedDiff("old", "new", a, b, 1)
	want := "--- old\n+++ new\n@@ -3,3 +3,3 @@\n c\n-d\n+D\n e\n@@ -8,1 +8,2 @@\n h\n+i\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if unifiedDiff("a", "b", a, a, 3) != "" {
		t.Error("equal texts differ")
	}
}

// Instances given to validate are checked against the generated CRD.
func TestValidateInstances(t *testing.T) {
	var out, errOut bytes.Buffer
	ok, err := Validate(Inputs{Files: append(seeds("000-webapp-rgd.yaml", "000-webapp-instance.yaml"), "testdata/instances/webapp-bad.yaml")}, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("the bad instance validated")
	}
	golden(t, "validate-instances.txt", out.String()+"--- stderr\n"+errOut.String())
}

// Collections render one object per item; a selector externalRef takes its
// objects from --observed.
func TestRenderCollection(t *testing.T) {
	base := RenderInputs{Inputs: Inputs{Files: []string{"testdata/features/fleet-rgd.yaml"}}, Instances: []string{"testdata/features/fleet-instance.yaml"}}
	golden(t, "render-fleet.yaml", runRender(t, base))
	base.Observed = []string{"testdata/features/fleet-observed.yaml"}
	got := runRender(t, base)
	golden(t, "render-fleet-observed.yaml", got)
	for _, want := range []string{"name: blue-api", "name: blue-web", "kro.run/collection-index: \"1\"", "count: \"2\"", "peers: \"1\""} {
		if !strings.Contains(got, want) {
			t.Errorf("render lacks %q", want)
		}
	}
	var out, errOut bytes.Buffer
	if ok, err := RunGraph(Inputs{Files: []string{"testdata/features/fleet-rgd.yaml"}}, "text", false, &out, &errOut); !ok || err != nil {
		t.Fatal(ok, err, errOut.String())
	}
	golden(t, "graph-fleet.text", out.String())
}

// An instance without the data its expressions read (the seed WebApp
// without spec.name): render says what the controller does — the
// deployment waits, and so do its dependents (the ingress is not "skipped":
// its includeWhen is never evaluated) — and fails, since nothing but a
// change of the instance can resolve it.
func TestRenderInstanceWithoutData(t *testing.T) {
	var out, errOut bytes.Buffer
	ok, err := RunRender(RenderInputs{Inputs: Inputs{Files: seeds("000-webapp-rgd.yaml")}, Instances: []string{"testdata/instances/webapp-noname.yaml"}}, &out, &errOut)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		t.Error("render succeeded for an instance the controller can never make ACTIVE")
	}
	golden(t, "render-webapp-noname.txt", out.String()+"--- stderr\n"+errOut.String())
	for _, want := range []string{
		"deployment  Deployment: waiting: the instance does not set what ${schema.spec.name} reads (no such key: name)",
		`service     Service: waiting: waiting for "deployment"`,
		`ingress     Ingress: waiting: waiting for "deployment"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("render output lacks %q:\n%s", want, out.String())
		}
	}
}

// validate reports every problem of an RGD, each at its own line, in
// order: the same misspelt field on two lines, a wrong literal and an
// unknown field of another resource. An RGD whose only problems are
// unknown kinds lists each at its own resource.
func TestValidateReportsEveryProblem(t *testing.T) {
	var out, errOut bytes.Buffer
	ok, err := Validate(Inputs{Files: []string{"testdata/multi/many-problems.yaml"}}, &out, &errOut)
	if err != nil || ok {
		t.Fatalf("ok=%v err=%v", ok, err)
	}
	golden(t, "validate-many-problems.txt", errOut.String())
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if len(lines) < 4 {
		t.Errorf("want every problem (at least 4 lines), got:\n%s", errOut.String())
	}
	for _, want := range []string{":18:", ":20:", ":28:", ":29:"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("no problem reported at line %s:\n%s", want, errOut.String())
		}
	}
}

// An unresolved field whose key has dots (a label like app.kubernetes.io/x)
// is printed under that key, not split into nested maps.
func TestRenderUnresolvedDottedKey(t *testing.T) {
	rgd := `apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: dotted.kro.run
spec:
  schema:
    apiVersion: v1alpha1
    kind: Dotted
  resources:
    - id: dep
      template:
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ${schema.metadata.name}
        spec:
          selector: {matchLabels: {app: x}}
          template: {metadata: {labels: {app: x}}, spec: {containers: [{name: c, image: nginx}]}}
    - id: cm
      template:
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ${schema.metadata.name}-cm
          labels:
            app.kubernetes.io/version: ${string(dep.status.observedGeneration)}
`
	dir := t.TempDir()
	inst := dir + "/inst.yaml"
	if err := os.WriteFile(inst, []byte("apiVersion: kro.run/v1alpha1\nkind: Dotted\nmetadata:\n  name: d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	ok, err := RunRender(RenderInputs{Inputs: Inputs{Files: []string{"-"}, Stdin: strings.NewReader(rgd)}, Instances: []string{inst}}, &out, &errOut)
	if err != nil || !ok {
		t.Fatalf("ok=%v err=%v %s", ok, err, errOut.String())
	}
	if !strings.Contains(out.String(), "app.kubernetes.io/version: ${string(dep.status.observedGeneration)}") {
		t.Errorf("the unresolved label is not printed under its key:\n%s", out.String())
	}
}
