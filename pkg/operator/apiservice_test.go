package operator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellis-dev/trellis/pkg/crd"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// TestUnavailableAPIServiceDoesNotBlockRGDs covers kro#457: an aggregated
// API whose Service has no endpoints makes discovery of its group fail
// (503). RGDs that do not use it must still become Active and serve
// instances, also for a controller that starts while it is broken.
func TestUnavailableAPIServiceDoesNotBlockRGDs(t *testing.T) {
	env := setup(t)
	ns := testenv.Current(t).Namespace(t)
	apiServices := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	apply(t, services, parse(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: nobody-home, namespace: %s}
spec: {ports: [{port: 443}]}
`, ns)))
	apply(t, apiServices, parse(t, fmt.Sprintf(`
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1.stale.example.com}
spec:
  group: stale.example.com
  version: v1
  service: {name: nobody-home, namespace: %s, port: 443}
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 1000
  versionPriority: 15
`, ns)))
	t.Cleanup(func() {
		_ = dyn.Resource(apiServices).Delete(context.Background(), "v1.stale.example.com", metav1.DeleteOptions{})
	})
	eventually(t, 60*time.Second, "APIService unavailable", getter(apiServices, "", "v1.stale.example.com"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "Available")
		return c != nil && c["status"] == "False"
	})

	restartController(t, env)
	applyRGD(t, configMapRGD(t, "beside-stale-api", "BesideStale"))
	eventually(t, 60*time.Second, "RGD Active", getter(rgdGVR, "", "beside-stale-api"), rgdActive)
	res := gvr(crd.Plural("BesideStale"))
	applyInstance(t, res, parse(t, fmt.Sprintf("apiVersion: kro.run/v1alpha1\nkind: BesideStale\nmetadata: {name: b, namespace: %s}\nspec: {}\n", ns)))
	eventually(t, 60*time.Second, "instance ACTIVE", getter(res, ns, "b"), func(u *unstructured.Unstructured) bool {
		return str(u, "status", "state") == "ACTIVE"
	})
	getObj(t, configMaps, ns, "b-cm")
}
