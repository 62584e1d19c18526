package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/localcluster"
)

// Kro is kro's controller (localcluster.KroVersion) running against the
// test cluster, the peer of the switch tests.
type Kro struct {
	*localcluster.KroProcess
}

// InstallKroCRDs installs kro's own CRDs (ResourceGraphDefinition,
// GraphRevision) as kro's release ships them, replacing whatever is
// installed, and waits until they are served. Building kro first if needed.
func (e *Env) InstallKroCRDs(t testing.TB) {
	t.Helper()
	k := ensureKro(t)
	files, err := k.CRDFiles()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(raw, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		live := &apiextensionsv1.CustomResourceDefinition{}
		switch err := e.Client.Get(ctx, client.ObjectKey{Name: crd.Name}, live); {
		case apierrors.IsNotFound(err):
			err = e.Client.Create(ctx, crd)
			if err != nil {
				t.Fatalf("create CRD %s: %v", crd.Name, err)
			}
		case err != nil:
			t.Fatal(err)
		default:
			crd.ResourceVersion = live.ResourceVersion
			if err := e.Client.Update(ctx, crd); err != nil {
				t.Fatalf("update CRD %s: %v", crd.Name, err)
			}
		}
		err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			got := &apiextensionsv1.CustomResourceDefinition{}
			if err := e.Client.Get(ctx, client.ObjectKey{Name: crd.Name}, got); err != nil {
				return false, nil
			}
			for _, c := range got.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			t.Fatalf("CRD %s not established: %v", crd.Name, err)
		}
	}
}

// StartKro starts kro's controller out of cluster against the test
// cluster (building it into the cache first if needed; see
// localcluster.EnsureKro). It is stopped when the test ends unless the
// test stops it before. Its log is kept in the test's temp directory and
// printed when the test fails.
func (e *Env) StartKro(t testing.TB, args ...string) *Kro {
	t.Helper()
	k := ensureKro(t)
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("kro-%d.log", time.Now().UnixNano()))
	p, err := k.Start(e.Kubeconfig, logPath, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop(10 * time.Second)
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				tail := b
				if len(tail) > 8000 {
					tail = tail[len(tail)-8000:]
				}
				t.Logf("kro's log (last 8000 bytes of %s):\n%s", logPath, tail)
			}
		}
	})
	return &Kro{KroProcess: p}
}

func ensureKro(t testing.TB) localcluster.Kro {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	k, err := localcluster.EnsureKro(ctx, os.Stderr)
	if err != nil {
		t.Fatalf("kro %s: %v", localcluster.KroVersion, err)
	}
	return k
}
