package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
)

func TestMigrateSeesARunningKro(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	deploy := func(name string, replicas int64) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": name, "namespace": "kro-system", "labels": map[string]any{"app.kubernetes.io/name": "kro"}},
			"spec":     map[string]any{"replicas": replicas},
			"status":   map[string]any{"replicas": replicas},
		}}
	}
	lease := func(name string, renewed time.Time) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
			"metadata": map[string]any{"name": name, "namespace": "kro-system"},
			"spec": map[string]any{"holderIdentity": "kro-abc", "leaseDurationSeconds": int64(15),
				"renewTime": renewed.Format(time.RFC3339Nano)},
		}}
	}
	cases := []struct {
		name    string
		objects []runtime.Object
		want    string // "" = no blocker
	}{
		{"nothing of kro's", nil, ""},
		{"Deployment scaled up", []runtime.Object{deploy("kro", 1)}, "kubectl -n kro-system scale deployment kro --replicas=0"},
		{"Deployment scaled down", []runtime.Object{deploy("kro", 0)}, ""},
		{"Lease held", []runtime.Object{lease(kroLeaseName, now.Add(-5*time.Second))}, "Lease kro-system/controller.kro.run is held"},
		{"Lease expired", []runtime.Object{lease(kroLeaseName, now.Add(-20*time.Second))}, ""},
		{"someone else's Lease", []runtime.Object{lease("other", now)}, ""},
	}
	gvrs := map[schema.GroupVersionResource]string{deploymentsGVR: "DeploymentList", leasesGVR: "LeaseList"}
	for _, c := range cases {
		dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), gvrs, c.objects...)
		r := &MigrateReport{}
		if err := r.checkKroRunning(context.Background(), &Cluster{Dynamic: dyn}, now); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := strings.Join(r.Blockers, "\n")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: blockers %q, want %q", c.name, got, c.want)
		}
	}
}
