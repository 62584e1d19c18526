package operator_test

import (
	"context"
	"strings"
	"testing"

	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/trellis-dev/trellis/pkg/bench"
	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// TestInstallCRDsUpdatesOnlyChanges: starting again leaves unchanged CRDs
// alone (no PUT) and still upgrades a changed one.
func TestInstallCRDsUpdatesOnlyChanges(t *testing.T) {
	env := testenv.Current(t)
	ctx := context.Background()
	setup := func() {
		t.Helper()
		mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := operator.Setup(mgr, operator.Options{InstallCRDs: true}); err != nil {
			t.Fatal(err)
		}
	}
	api := apiextclient.NewForConfigOrDie(env.Config).ApiextensionsV1().CustomResourceDefinitions()
	const name = "resourcegraphdefinitions.kro.run"
	setup()
	// A no-op PUT leaves the resourceVersion as it was: count the PUTs.
	before := crdPuts(t, env)
	setup()
	if n := crdPuts(t, env) - before; n != 0 {
		t.Errorf("unchanged CRDs were written again: %v PUTs", n)
	}
	again, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cols := len(again.Spec.Versions[0].AdditionalPrinterColumns)
	if cols == 0 {
		t.Fatal("the RGD CRD has no printer columns to take away")
	}
	again.Spec.Versions[0].AdditionalPrinterColumns = nil
	if _, err := api.Update(ctx, again, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	setup()
	got, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Spec.Versions[0].AdditionalPrinterColumns); n != cols {
		t.Errorf("the changed CRD was not upgraded: %d printer columns, want %d", n, cols)
	}
}

// crdPuts is the API server's count of CRD PUTs (dry runs left out).
func crdPuts(t *testing.T, env *testenv.Env) float64 {
	t.Helper()
	raw, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	samples, err := bench.ParseMetric(strings.NewReader(string(raw)), "apiserver_request_total")
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for k, v := range bench.RequestsFromSamples(samples).Resources("customresourcedefinitions") {
		if k.Verb == "PUT" {
			n += v
		}
	}
	return n
}
