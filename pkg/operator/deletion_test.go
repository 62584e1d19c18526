package operator_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

// A child whose DELETE does not remove it at once (it has a finalizer)
// holds back the next wave: the instance shows DELETING, the children the
// held one depends on stay, and everything goes once the finalizer does.
func TestDeletionWaitsForAChildsFinalizer(t *testing.T) {
	setup(t)
	ns := testenv.Current(t).Namespace(t)
	ctx := context.Background()
	rgd := load(t, "testdata/benchapp-rgd.yaml")
	applyRGD(t, rgd)
	eventually(t, 30*time.Second, "RGD Active", getter(rgdGVR, "", rgd.GetName()), rgdActive)
	apply(t, benchApps, benchInstance(ns, "held"))
	eventually(t, 30*time.Second, "instance ACTIVE", getter(benchApps, ns, "held"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE"
	})
	// The endpoints ConfigMap depends on the others: it is the first wave.
	hold := []byte(`{"metadata":{"finalizers":["test.trellis.dev/hold"]}}`)
	if _, err := dyn.Resource(configMaps).Namespace(ns).Patch(ctx, "held-endpoints", types.MergePatchType, hold, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := dyn.Resource(benchApps).Namespace(ns).Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "instance DELETING", getter(benchApps, ns, "held"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "DELETING"
	})
	eventually(t, 15*time.Second, "endpoints terminating", getter(configMaps, ns, "held-endpoints"), func(u *unstructured.Unstructured) bool {
		return u.GetDeletionTimestamp() != nil
	})
	// DELETING is written after the wave's DELETEs: the next wave was not
	// started, and only the held child's delete event can start it.
	for _, name := range []string{"held-config", "held-secret"} {
		gvr := configMaps
		if name == "held-secret" {
			gvr = secrets
		}
		if u, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{}); err != nil || u.GetDeletionTimestamp() != nil {
			t.Fatalf("%s deleted before the first wave was gone (err %v)", name, err)
		}
	}
	release := []byte(`{"metadata":{"finalizers":null}}`)
	if _, err := dyn.Resource(configMaps).Namespace(ns).Patch(ctx, "held-endpoints", types.MergePatchType, release, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	gone(t, 30*time.Second, benchApps, ns, "held")
	gone(t, 5*time.Second, configMaps, ns, "held-config")
	gone(t, 5*time.Second, secrets, ns, "held-secret")
	gone(t, 5*time.Second, services, ns, "held")
}
