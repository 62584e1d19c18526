package kroswitch

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
)

// EnvN sets how many BenchApp instances the switch tests create (default
// 20; the full variant is 200: `make test-kroswitch-full`).
const EnvN = "TRELLIS_KROSWITCH_N"

func benchN(t *testing.T) int {
	if v := os.Getenv(EnvN); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", EnvN, v)
		}
		return n
	}
	return 20
}

// kinds of the fixture's instances, with how many of each it makes.
type fixture struct {
	ns     string
	counts map[schema.GroupVersionResource]int
	rgds   []string
}

var (
	webApps     = instances("webapps")
	benchApps   = instances("benchapps")
	stacks      = instances("switchstacks")
	fleets      = instances("switchfleets")
	fixtureRGDs = []string{"webapp.kro.run", "benchapps.kro.run", "switchstacks.kro.run", "switchfleets.kro.run"}
)

// createFixture applies the seed WebApp, the benchmark RGD with n
// instances, a nested RGD and a forEach collection into ns, and waits until
// the controller running (kro or trellis) has every instance ACTIVE.
func createFixture(t *testing.T, dyn dynamic.Interface, ns string, n int) *fixture {
	t.Helper()
	f := &fixture{ns: ns, rgds: fixtureRGDs, counts: map[schema.GroupVersionResource]int{
		webApps: 1, benchApps: n + 1, stacks: 1, fleets: 1,
	}}
	for _, path := range []string{"../../examples/webapp/rgd.yaml", "../bench/testdata/rgd-bench.yaml", "testdata/nested-rgd.yaml", "testdata/foreach-rgd.yaml"} {
		apply(t, dyn, rgds, load(t, path))
	}
	for _, name := range f.rgds {
		rgdActive(t, dyn, name)
	}
	web := load(t, "../../examples/webapp/instance.yaml")
	web.SetNamespace(ns)
	_ = unstructured.SetNestedField(web.Object, ns, "spec", "namespace")
	apply(t, dyn, webApps, web)
	for i := 0; i < n; i++ {
		apply(t, dyn, benchApps, parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: BenchApp
metadata: {name: app-%03d, namespace: %s}
spec: {name: app-%03d}
`, i, ns, i)))
	}
	apply(t, dyn, stacks, parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: SwitchStack
metadata: {name: stack, namespace: %s}
spec: {app: nested-app}
`, ns)))
	apply(t, dyn, fleets, parse(t, fmt.Sprintf(`
apiVersion: kro.run/v1alpha1
kind: SwitchFleet
metadata: {name: fleet, namespace: %s}
spec: {members: [red, green, blue]}
`, ns)))
	f.waitActive(t, dyn, false)
	return f
}

// waitActive waits until every instance is ACTIVE (with trellisDone: and
// reconciled by trellis, see allActive).
func (f *fixture) waitActive(t *testing.T, dyn dynamic.Interface, trellisDone bool) {
	t.Helper()
	for gvr, c := range f.counts {
		waitList(t, dyn, time.Duration(c)*3*time.Second+2*time.Minute, gvr, f.ns, allActive(c, trellisDone))
	}
}

func (f *fixture) kinds() []schema.GroupVersionResource {
	var out []schema.GroupVersionResource
	for gvr := range f.counts {
		out = append(out, gvr)
	}
	return out
}

// deleteAtEnd deletes the fixture's instances when the test ends, while
// the controller started before this call still runs (cleanups run last
// first), and waits until they are gone, so the next test finds no
// leftovers for its controller to finish.
func (f *fixture) deleteAtEnd(t *testing.T, dyn dynamic.Interface) {
	t.Cleanup(func() {
		ctx := context.Background()
		for _, gvr := range []schema.GroupVersionResource{stacks, fleets, webApps, benchApps} {
			_ = dyn.Resource(gvr).Namespace(f.ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
		}
		for _, gvr := range f.kinds() {
			err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
				l, err := dyn.Resource(gvr).Namespace(f.ns).List(ctx, metav1.ListOptions{})
				return err == nil && len(l.Items) == 0, nil
			})
			if err != nil {
				t.Errorf("cleanup: %s left in %s", gvr.Resource, f.ns)
			}
		}
	})
}

// fixtureCRDs are the CRDs the fixture's RGDs generate.
var fixtureCRDs = []string{"webapps.kro.run", "benchapps.kro.run", "switchstacks.kro.run", "switchfleets.kro.run"}

// resetFixtureKinds removes the fixture's RGDs and generated CRDs a
// previous test left (with no controller running), so that kro starts from
// CRDs it generates itself: kro v0.9.4 refuses to update CRDs trellis
// generated (see TestSwitchBackToKro).
func resetFixtureKinds(t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	ctx := context.Background()
	crds := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, name := range fixtureRGDs {
		_, _ = dyn.Resource(rgds).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		_ = dyn.Resource(rgds).Delete(ctx, name, metav1.DeleteOptions{})
	}
	// An instance a failed test left with its finalizer would hold its CRD's deletion forever.
	for _, gvr := range []schema.GroupVersionResource{webApps, benchApps, stacks, fleets} {
		l, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, u := range l.Items {
			_, _ = dyn.Resource(gvr).Namespace(u.GetNamespace()).Patch(ctx, u.GetName(), types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		}
	}
	for _, name := range fixtureCRDs {
		_ = dyn.Resource(crds).Delete(ctx, name, metav1.DeleteOptions{})
	}
	gone := func(gvr schema.GroupVersionResource, name string) {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Fatalf("%s %s left over", gvr.Resource, name)
		}
	}
	for _, name := range fixtureRGDs {
		gone(rgds, name)
	}
	for _, name := range fixtureCRDs {
		gone(crds, name)
	}
}
