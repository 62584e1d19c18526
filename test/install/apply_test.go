// Package install proves the install artefacts on the real local control
// plane: the chart's rendered manifests apply with server-side apply, and the
// controller, run with the chart's identity (its ServiceAccount, impersonated),
// does its job under rbac.mode=aggregation with nothing more than the static
// role plus the aggregated roles a platform team adds.
package install

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/trellis-dev/trellis/pkg/testenv"
	"github.com/trellis-dev/trellis/test/chart"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m, testenv.Options{Full: true})) }

const releaseNamespace = chart.Namespace

var (
	releaseOnce sync.Once
	releaseBin  string
	releaseErr  error
)

// releaseTool builds tools/release (the Helm SDK lives in its own module) once
// per test binary; Go's build cache makes later builds a link step.
func releaseTool(t *testing.T) string {
	t.Helper()
	releaseOnce.Do(func() {
		dir, err := os.MkdirTemp("", "trellis-release-")
		if err != nil {
			releaseErr = err
			return
		}
		releaseBin = filepath.Join(dir, "release")
		cmd := exec.Command("go", "build", "-o", releaseBin, ".")
		cmd.Dir = "../../tools/release"
		if out, err := cmd.CombinedOutput(); err != nil {
			releaseErr = fmt.Errorf("building tools/release: %v\n%s", err, out)
		}
	})
	if releaseErr != nil {
		t.Fatal(releaseErr)
	}
	return releaseBin
}

// renderChart renders charts/trellis with --set values, as helm template would.
func renderChart(t *testing.T, set ...string) []byte {
	t.Helper()
	args := []string{"template", "-chart", "../../charts/trellis", "-namespace", releaseNamespace}
	for _, s := range set {
		args = append(args, "-set", s)
	}
	var out, errb bytes.Buffer
	cmd := exec.Command(releaseTool(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("release template %v: %v\n%s", set, err, errb.String())
	}
	return out.Bytes()
}

func readDist(t *testing.T, name string) []byte {
	t.Helper()
	b, err := chart.ReadDist("../..", name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, manifest []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := chart.Decode(manifest)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// applier applies objects with server-side apply.
type applier struct{ a *chart.Applier }

func newApplier(t *testing.T, env *testenv.Env) *applier {
	t.Helper()
	a, err := chart.NewApplier(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &applier{a: a}
}

func (a *applier) applyAll(t *testing.T, objs []*unstructured.Unstructured, dryRun bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, u := range objs {
		if err := a.a.Apply(ctx, u, dryRun); err != nil {
			t.Errorf("apply (dry-run=%v) %s %s/%s: %v", dryRun, u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
}

func ensureNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// TestRenderedManifestsApply: every values combination the tests render passes
// a server-side dry-run apply on the real API server, and the committed
// dist/install.yaml and dist/install-with-ack.yaml apply for real.
func TestRenderedManifestsApply(t *testing.T) {
	env := testenv.Current(t)
	a := newApplier(t, env)
	ensureNamespace(t, env.Client, releaseNamespace)
	for _, set := range [][]string{
		nil,
		{"rbac.mode=unrestricted"},
		{"ack.services={dynamodb,s3}", "aws.region=eu-west-1", "aws.endpointURL=http://localhost:4566", "aws.credentials.secretName=aws"},
		{"deployment.replicas=3", "metrics.service.create=true", "featureGates.CELOmitFunction=true", "config.allowCRDDeletion=true"},
		{"serviceAccount.create=false", "serviceAccount.name=default", "rbac.userRoles=false"},
	} {
		objs := decode(t, renderChart(t, set...))
		if len(objs) < 8 {
			t.Fatalf("%v rendered only %d objects", set, len(objs))
		}
		a.applyAll(t, objs, true)
	}
	for _, f := range []string{"install.yaml", "install-with-ack.yaml"} {
		objs := decode(t, readDist(t, f))
		a.applyAll(t, objs, false)
		// Applying again changes nothing and fails nothing.
		a.applyAll(t, objs, false)
	}
}

// TestDistIsTheDefaultRender: dist/install.yaml is the chart rendered with
// the defaults (tools/release's tests check every byte; this guards the
// integration tests below, which take the controller's flags from it).
func TestDistIsTheDefaultRender(t *testing.T) {
	testenv.Current(t)
	dist := decode(t, readDist(t, "install.yaml"))
	fresh := decode(t, renderChart(t))
	if len(dist) != len(fresh)+1 { // dist/ adds the Namespace
		t.Fatalf("dist/install.yaml has %d objects, the chart renders %d (+1 Namespace): run `make manifests`", len(dist), len(fresh))
	}
	if !strings.Contains(string(readDist(t, "install.yaml")), "rbac.kro.run/aggregate-to-controller") {
		t.Fatal("dist/install.yaml is not in aggregation mode")
	}
}
