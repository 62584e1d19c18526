package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/trellis-dev/trellis/pkg/testenv"
)

// TestDropNamespaceAfterInterrupt: after Ctrl-C a phase's namespace is
// still deleted, but the run does not wait for the namespace controller
// (here held back by a ConfigMap's finalizer) to finish.
func TestDropNamespaceAfterInterrupt(t *testing.T) {
	kube, err := kubernetes.NewForConfig(testenv.Current(t).Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const ns, hold = "bench-drop-interrupted", "trellis.dev/test-hold"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "held", Namespace: ns, Finalizers: []string{hold}}}
	if _, err := kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Let the namespace go, and wait until it has: the namespace
		// controller's last sweep deletes in every resource, which the
		// write counts of the tests after this one would see.
		_, _ = kube.CoreV1().ConfigMaps(ns).Patch(ctx, "held", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if err != nil {
			t.Errorf("namespace %s still there after its finalizer was removed: %v", ns, err)
		}
	})

	var log bytes.Buffer
	r := &runner{o: Options{Log: &log}, kube: kube}
	interrupted, cancel := context.WithCancel(ctx)
	cancel()
	r.dropNamespace(interrupted, ns)

	got, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.DeletionTimestamp == nil {
		t.Errorf("namespace %s was not deleted after the interrupt; log:\n%s", ns, log.String())
	}
	if !strings.Contains(log.String(), "not waiting") {
		t.Errorf("the interrupted run waited for the namespace; log:\n%s", log.String())
	}
}
