package integration_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/cli"
	"github.com/trellis-dev/trellis/pkg/crd"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// An instance orphaned by its RGD's deletion: `trellis graph` explains it
// instead of saying that no RGD defines the kind.
func TestGraphOfAnOrphan(t *testing.T) {
	c := setup(t)
	ns := testenv.Current(t).Namespace(t)
	ctx := context.Background()
	rgd := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`
apiVersion: kro.run/v1alpha1
kind: ResourceGraphDefinition
metadata:
  name: lonely
  annotations:
    trellis.dev/orphan-instances: "true"
spec:
  schema:
    apiVersion: v1alpha1
    kind: Lonely
  resources:
  - id: cm
    template:
      apiVersion: v1
      kind: ConfigMap
      metadata:
        name: ${schema.metadata.name}-cm
`), &rgd.Object); err != nil {
		t.Fatal(err)
	}
	apply(t, c, rgdGVR, rgd)
	waitFor(t, time.Minute, "RGD Active", func() (*unstructured.Unstructured, error) {
		return c.Dynamic.Resource(rgdGVR).Get(ctx, "lonely", metav1.GetOptions{})
	}, func(u *unstructured.Unstructured) bool { return state(u) == "Active" })
	lonelies := schema.GroupVersionResource{Group: "kro.run", Version: "v1alpha1", Resource: crd.Plural("Lonely")}
	inst := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "kro.run/v1alpha1", "kind": "Lonely",
		"metadata": map[string]any{"name": "one", "namespace": ns}}}
	apply(t, c, lonelies, inst)
	get := func() (*unstructured.Unstructured, error) {
		return c.Dynamic.Resource(lonelies).Namespace(ns).Get(ctx, "one", metav1.GetOptions{})
	}
	waitFor(t, time.Minute, "Lonely ACTIVE", get, func(u *unstructured.Unstructured) bool { return state(u) == "ACTIVE" })

	if err := c.Dynamic.Resource(rgdGVR).Delete(ctx, "lonely", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "Lonely ORPHANED", get, func(u *unstructured.Unstructured) bool { return state(u) == "ORPHANED" })
	var out bytes.Buffer
	err := cli.RunLiveGraph(ctx, c, "lonely/one", ns, "text", false, &out)
	if err == nil || !strings.Contains(err.Error(), "ResourceGraphDefinition lonely, which was deleted") || !strings.Contains(err.Error(), "orphaned") {
		t.Errorf("graph of an orphan: %v, want an explanation naming the deleted RGD", err)
	}
	_ = c.Dynamic.Resource(lonelies).Namespace(ns).Delete(ctx, "one", metav1.DeleteOptions{})
}
