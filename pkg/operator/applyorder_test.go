package operator_test

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

// nestedRGDs are the seed's nested stack, outermost first (reverse
// dependency order).
var nestedRGDs = []string{"000-db-webstack-rgd.yaml", "000-webapp-rds-rgd.yaml", "podidentity-rgd-completed.yaml", "000-rds-rgd.yaml"}

// installCRDs installs the ACK and Secrets Store CRDs the nested RGDs use
// (waiting out a previous copy that is still terminating).
func installCRDs(t *testing.T, env *testenv.Env) {
	t.Helper()
	files, _ := filepath.Glob("testdata/crds/*.yaml")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &extv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(raw, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
			err := env.Client.Create(ctx, crd.DeepCopy())
			if err == nil {
				return true, nil
			}
			live := &extv1.CustomResourceDefinition{}
			if env.Client.Get(ctx, client.ObjectKey{Name: crd.Name}, live) == nil && live.DeletionTimestamp == nil {
				return true, nil // already installed
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("installing %s: %v", crd.Name, err)
		}
	}
}

func rgdNames(t *testing.T, files []string) []string {
	var names []string
	for _, f := range files {
		names = append(names, load(t, filepath.Join("testdata", f)).GetName())
	}
	return names
}

func allActive(t *testing.T, names []string) bool {
	for _, n := range names {
		u, err := dyn.Resource(rgdGVR).Get(context.Background(), n, metav1.GetOptions{})
		if err != nil || !rgdActive(u) {
			return false
		}
	}
	return true
}

// An RGD that waits for a kind says which, and becomes Active as soon as
// the kind is served, however long it waited: CRD events drive it, not a
// timer or a backoff.
func TestApplyOrderDoesNotMatter(t *testing.T) {
	env := setup(t)
	if testing.Short() {
		t.Skip("waits minutes on purpose")
	}
	probe := &extv1.CustomResourceDefinition{}
	if env.Client.Get(context.Background(), client.ObjectKey{Name: "roles.iam.services.k8s.aws"}, probe) == nil {
		t.Skip("the ACK CRDs are already installed in this cluster (run with -count=1)")
	}
	waitFor := 3 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("TRELLIS_APPLY_ORDER_WAIT")); err == nil {
		waitFor = d
	}
	for _, f := range nestedRGDs {
		applyRGD(t, load(t, filepath.Join("testdata", f)))
	}
	names := rgdNames(t, nestedRGDs)

	// WebAppRds uses core kinds only: Active at once. The others wait and say for what.
	eventually(t, 30*time.Second, "webapp-rds Active", getter(rgdGVR, "", "webapp.rds.kro.run"), rgdActive)
	for name, kind := range map[string]string{"rds.kro.run": "DBSubnetGroup", "podidentity.kro.run": "Role", "db-webstack.kro.run": "RdsInstance"} {
		eventually(t, 30*time.Second, name+" waiting for "+kind, getter(rgdGVR, "", name), func(u *unstructured.Unstructured) bool {
			c := condition(u, "GraphAccepted")
			return str(u, "status", "state") == "Inactive" && c != nil && c["reason"] == "WaitingForKind" && strings.Contains(c["message"].(string), kind)
		})
	}
	t.Logf("waiting %s before installing the CRDs", waitFor)
	time.Sleep(waitFor)
	if allActive(t, names[:1]) {
		t.Fatal("db-webstack Active before its kinds exist")
	}
	installCRDs(t, env)
	start := time.Now()
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return allActive(t, names), nil
	})
	if err != nil {
		var states []string
		for _, n := range names {
			if u, err := dyn.Resource(rgdGVR).Get(context.Background(), n, metav1.GetOptions{}); err == nil {
				states = append(states, n+": "+str(u, "status", "state")+" "+fmt.Sprint(condition(u, "Ready")["message"]))
			}
		}
		t.Fatalf("not all nested RGDs Active within 10s of the CRDs:\n%s", strings.Join(states, "\n"))
	}
	t.Logf("all %d nested RGDs Active %s after the last CRD was installed (having waited %s)", len(names), time.Since(start).Round(10*time.Millisecond), waitFor)

	// A CRD that live RGDs depend on goes away: they say so.
	_ = env.Client.Delete(context.Background(), &extv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: "roles.iam.services.k8s.aws"}})
	eventually(t, 30*time.Second, "podidentity reports the missing Role kind", getter(rgdGVR, "", "podidentity.kro.run"), func(u *unstructured.Unstructured) bool {
		c := condition(u, "GraphAccepted")
		return c != nil && c["status"] == "False" && strings.Contains(c["message"].(string), "Role")
	})
}

// Every order of applying all seed RGDs ends in the same states.
func TestShuffledApplyConverges(t *testing.T) {
	env := setup(t)
	installCRDs(t, env)
	files := append([]string{}, nestedRGDs...)
	files = append(files, "webapp-rgd.yaml", "benchapp-rgd.yaml")
	names := rgdNames(t, files)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for round := 0; round < 4; round++ {
		rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
		t.Logf("round %d order: %v", round, files)
		for _, f := range files {
			apply(t, rgdGVR, load(t, filepath.Join("testdata", f)))
		}
		err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			return allActive(t, names), nil
		})
		if err != nil {
			for _, n := range names {
				u, _ := dyn.Resource(rgdGVR).Get(context.Background(), n, metav1.GetOptions{})
				if u != nil && !rgdActive(u) {
					t.Logf("%s: %v", n, u.Object["status"])
				}
			}
			t.Fatalf("round %d: not all RGDs Active", round)
		}
		for _, n := range names {
			_ = dyn.Resource(rgdGVR).Delete(context.Background(), n, metav1.DeleteOptions{})
		}
		for _, n := range names {
			gone(t, 30*time.Second, rgdGVR, "", n)
		}
	}
}
