package operator_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var graphRevisions = schema.GroupVersionResource{Group: "internal.kro.run", Version: "v1alpha1", Resource: "graphrevisions"}

// editRGD reads the RGD, lets edit change its resources, and updates it.
func editRGD(t *testing.T, name string, edit func(resources []any) []any) {
	t.Helper()
	mustUpdate(t, rgdGVR, "", name, func(u *unstructured.Unstructured) {
		res, _, _ := unstructured.NestedSlice(u.Object, "spec", "resources")
		_ = unstructured.SetNestedSlice(u.Object, edit(res), "spec", "resources")
	})
}

func resourceByID(resources []any, id string) map[string]any {
	for _, r := range resources {
		if m := r.(map[string]any); m["id"] == id {
			return m
		}
	}
	return nil
}

func revisionOf(u *unstructured.Unstructured) int64 {
	n, _, _ := unstructured.NestedInt64(u.Object, "status", "graphRevision")
	return n
}

// RGD updates reach every instance; removed resources are pruned; an update
// that fails validation leaves instances on the last good revision, also
// after a restart; order-only edits issue no revision.
func TestRGDUpdatesAndRevisions(t *testing.T) {
	env := setup(t)
	ns := env.Namespace(t)
	rgd := load(t, "testdata/benchapp-rgd.yaml")
	rgd.SetName("revisions")
	rgd.Object["spec"].(map[string]any)["schema"].(map[string]any)["kind"] = "RevApp"
	applyRGD(t, rgd)
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", "revisions"), rgdActive)
	apps := gvr("revapps")
	const n = 5
	for i := 0; i < n; i++ {
		u := benchInstance(ns, fmt.Sprintf("r%d", i))
		u.SetKind("RevApp")
		apply(t, apps, u)
	}
	waitAll := func(what string, cond func(u *unstructured.Unstructured) bool) {
		t.Helper()
		for i := 0; i < n; i++ {
			eventually(t, 30*time.Second, fmt.Sprintf("r%d: %s", i, what), getter(apps, ns, fmt.Sprintf("r%d", i)), cond)
		}
	}
	waitAll("ACTIVE on revision 1", func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE" && revisionOf(u) == 1
	})

	// A label added to a template reaches every instance, and a field
	// removed from it leaves the children (they were created with POST, so
	// trellis first takes their fields over into its apply): revision 2.
	editRGD(t, "revisions", func(res []any) []any {
		tmpl := resourceByID(res, "config")["template"].(map[string]any)
		tmpl["metadata"].(map[string]any)["labels"] = map[string]any{"tier": "gold"}
		delete(tmpl["data"].(map[string]any), "PORT")
		return res
	})
	waitAll("labelled config without PORT on revision 2", func(u *unstructured.Unstructured) bool {
		cm, err := dyn.Resource(configMaps).Namespace(ns).Get(context.Background(), u.GetName()+"-config", metav1.GetOptions{})
		if err != nil {
			return false
		}
		_, port := cm.Object["data"].(map[string]any)["PORT"]
		return cm.GetLabels()["tier"] == "gold" && !port && revisionOf(u) == 2
	})

	// A resource removed from the RGD is pruned from every instance.
	editRGD(t, "revisions", func(res []any) []any {
		var out []any
		for _, r := range res {
			if r.(map[string]any)["id"] != "secret" {
				out = append(out, r)
			}
		}
		return out
	})
	for i := 0; i < n; i++ {
		gone(t, 30*time.Second, secrets, ns, fmt.Sprintf("r%d-secret", i))
	}
	waitAll("ACTIVE on revision 3", func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE" && revisionOf(u) == 3
	})

	// Reordering the resources is not a new revision.
	editRGD(t, "revisions", func(res []any) []any {
		for i, j := 0, len(res)-1; i < j; i, j = i+1, j-1 {
			res[i], res[j] = res[j], res[i]
		}
		return res
	})
	eventually(t, 15*time.Second, "RGD Active after reorder", getter(rgdGVR, "", "revisions"), func(u *unstructured.Unstructured) bool {
		return rgdActive(u) && u.GetGeneration() == 4 && condition(u, "Ready")["observedGeneration"] == int64(4)
	})
	if got := listRevisions(t, "revisions"); strings.Join(got, ",") != "revisions-r00001,revisions-r00002,revisions-r00003" {
		t.Fatalf("revisions after reorder = %v", got)
	}

	// A broken update: the RGD says so, the instances stay on revision 3 and
	// keep being reconciled with it — also by a freshly started controller.
	editRGD(t, "revisions", func(res []any) []any {
		resourceByID(res, "config")["template"].(map[string]any)["data"].(map[string]any)["ENV"] = "${schema.spec.nope}"
		return res
	})
	eventually(t, 15*time.Second, "RGD Inactive, naming the field", getter(rgdGVR, "", "revisions"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "GraphAccepted")
		return c != nil && c["status"] == "False" && strings.Contains(fmt.Sprint(c["message"]), "nope") &&
			strings.Contains(fmt.Sprint(c["message"]), "graph revision 3")
	})
	restartController(t, env)
	u := benchInstance(ns, "r0")
	u.SetKind("RevApp")
	u.Object["spec"].(map[string]any)["env"] = "prod"
	apply(t, apps, u)
	eventually(t, 30*time.Second, "spec change applied on revision 3 after restart", getter(configMaps, ns, "r0-config"), func(cm *unstructured.Unstructured) bool {
		return str(cm, "data", "ENV") == "prod"
	})
	if got := listRevisions(t, "revisions"); len(got) != 3 {
		t.Fatalf("a failed update issued a revision: %v", got)
	}
}

func listRevisions(t *testing.T, rgd string) []string {
	t.Helper()
	l, err := dyn.Resource(graphRevisions).List(context.Background(), metav1.ListOptions{LabelSelector: "kro.run/resource-graph-definition-name=" + rgd})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range l.Items {
		names = append(names, it.GetName())
	}
	return names
}

// Killing the controller mid-reconcile and starting it again converges
// with exactly the children the graph wants: none twice, none orphaned.
func TestRestartMidReconcileConverges(t *testing.T) {
	env := setup(t)
	ns := env.Namespace(t)
	rgd := load(t, "testdata/benchapp-rgd.yaml")
	applyRGD(t, rgd)
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", rgd.GetName()), rgdActive)
	const n = 40
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			u := benchInstance(ns, fmt.Sprintf("k%d", i))
			_, err := dyn.Resource(benchApps).Namespace(ns).Apply(context.Background(), u.GetName(), u, metav1.ApplyOptions{FieldManager: "test", Force: true})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	// Stop while instances are half-way through, then start again.
	time.Sleep(300 * time.Millisecond)
	restartController(t, env)
	for i := 0; i < n; i++ {
		eventually(t, 60*time.Second, "ACTIVE", getter(benchApps, ns, fmt.Sprintf("k%d", i)), func(u *unstructured.Unstructured) bool {
			return str(u, "status", "state") == "ACTIVE" && str(u, "status", "clusterIP") != ""
		})
	}
	for _, c := range []struct {
		res  schema.GroupVersionResource
		want int
	}{{configMaps, 2 * n}, {secrets, n}, {services, n}} {
		items := listChildren(t, c.res, ns, "kro.run/owned=true")
		if len(items) != c.want {
			t.Errorf("%s: %d children, want %d", c.res.Resource, len(items), c.want)
		}
	}
	sas := listChildren(t, schema.GroupVersionResource{Version: "v1", Resource: "serviceaccounts"}, ns, "kro.run/owned=true")
	if len(sas) != n {
		t.Errorf("serviceaccounts: %d children, want %d", len(sas), n)
	}
}
