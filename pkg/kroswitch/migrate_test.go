package kroswitch

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/trellis-dev/trellis/pkg/cli"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

func migrate(t *testing.T, env *testenv.Env) *cli.MigrateReport {
	t.Helper()
	c, err := cli.ConnectConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cli.Migrate(context.Background(), c, cli.MigrateOptions{})
	if err != nil {
		t.Fatalf("trellis migrate: %v", err)
	}
	return r
}

func printed(r *cli.MigrateReport) string {
	var b bytes.Buffer
	r.Print(&b)
	return b.String()
}

// migrateWhileKroRuns: the preflight refuses while kro holds its leader
// Lease, and while a Deployment of kro's chart has replicas, naming how to
// stop it.
func migrateWhileKroRuns(t *testing.T, env *testenv.Env, dyn dynamic.Interface, ns string) {
	t.Helper()
	r := migrate(t, env)
	if r.Safe() || !strings.Contains(strings.Join(r.Blockers, "\n"), "controller.kro.run") {
		t.Errorf("migrate while kro holds its Lease: want a blocker naming the Lease, got:\n%s", printed(r))
	}
	deploy := parse(t, fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kro
  namespace: %s
  labels: {app.kubernetes.io/name: kro, app.kubernetes.io/part-of: kro}
spec:
  replicas: 1
  selector: {matchLabels: {app.kubernetes.io/name: kro}}
  template:
    metadata: {labels: {app.kubernetes.io/name: kro}}
    spec:
      containers: [{name: controller, image: registry.k8s.io/kro/controller:v0.9.4}]
`, ns))
	apply(t, dyn, deployments, deploy)
	r = migrate(t, env)
	if !strings.Contains(strings.Join(r.Blockers, "\n"), "scale deployment kro --replicas=0") {
		t.Errorf("migrate with kro's Deployment scaled up: want a blocker saying how to stop it, got:\n%s", printed(r))
	}
	patch := []byte(`{"spec":{"replicas":0}}`)
	if _, err := dyn.Resource(deployments).Namespace(ns).Patch(context.Background(), "kro", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// migrateWhenStopped waits until the preflight calls the switch safe (kro's
// Lease expires after it stopped; the Deployment scales down) and checks
// what it counted against the fixture.
func migrateWhenStopped(t *testing.T, env *testenv.Env, f *fixture, children int) {
	t.Helper()
	var r *cli.MigrateReport
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		r = migrate(t, env)
		return r.Safe(), nil
	})
	if err != nil {
		t.Fatalf("migrate never called the switch safe after kro stopped:\n%s", printed(r))
	}
	t.Logf("trellis migrate --from kro:\n%s", printed(r))
	instances := 0
	for _, c := range f.counts {
		instances += c
	}
	if r.Instances != instances {
		t.Errorf("migrate counted %d instances, want %d", r.Instances, instances)
	}
	// The nested BenchApp is both an instance and a child.
	if r.Children != children {
		t.Errorf("migrate counted %d children, want %d", r.Children, children)
	}
	if r.KroOwned != r.Children {
		t.Errorf("migrate counted %d kro-owned children of %d (kro made them all)", r.KroOwned, r.Children)
	}
	if r.Revisions < len(f.rgds) {
		t.Errorf("migrate counted %d GraphRevisions, want at least %d", r.Revisions, len(f.rgds))
	}
	for _, m := range r.RGDs {
		if m.Problem != "" {
			t.Errorf("migrate rejects %s: %s", m.Name, m.Problem)
		}
	}
}
