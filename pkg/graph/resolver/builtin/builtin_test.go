package builtin

import (
	"errors"
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/trellis-dev/trellis/pkg/graph"
)

func TestResolve(t *testing.T) {
	r := New()
	for _, c := range []struct {
		gvk        schema.GroupVersionKind
		resource   string
		namespaced bool
		field      string
	}{
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", true, "spec"},
		{schema.GroupVersionKind{Version: "v1", Kind: "Service"}, "services", true, "spec"},
		{schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, "namespaces", false, "spec"},
		{schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, "configmaps", true, "data"},
		{schema.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}, "ingresses", true, "spec"},
		{schema.GroupVersionKind{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"}, "clusterroles", false, "rules"},
		{schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}, "customresourcedefinitions", false, "spec"},
	} {
		k, err := r.Resolve(c.gvk)
		if err != nil {
			t.Errorf("%s: %v", c.gvk, err)
			continue
		}
		if k.GVR.Resource != c.resource || k.Namespaced != c.namespaced {
			t.Errorf("%s: got %s namespaced=%v", c.gvk, k.GVR.Resource, k.Namespaced)
		}
		if _, ok := k.Schema.Properties[c.field]; !ok {
			t.Errorf("%s: schema has no %s", c.gvk, c.field)
		}
	}
	// References are resolved: Deployment.spec.template.spec.containers[].image.
	k, _ := r.Resolve(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"})
	spec := k.Schema.Properties["spec"]
	tmpl := spec.Properties["template"]
	pod := tmpl.Properties["spec"]
	containers := pod.Properties["containers"]
	if containers.Items == nil || containers.Items.Schema == nil {
		t.Fatal("containers has no item schema")
	}
	if img := containers.Items.Schema.Properties["image"]; len(img.Type) == 0 || img.Type[0] != "string" {
		t.Errorf("container image schema: %+v", img)
	}
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "apps", Version: "v1", Kind: "Nope"},
		{Group: "example.com", Version: "v1", Kind: "Widget"},
		{Group: "apps", Version: "v1beta1", Kind: "Deployment"},
	} {
		_, err := r.Resolve(gvk)
		var nf *graph.KindNotFoundError
		if !errors.As(err, &nf) {
			t.Errorf("%s: want KindNotFoundError, got %v", gvk, err)
		}
	}
	if len(GroupVersions()) < 10 {
		t.Errorf("group-versions compiled in: %v", GroupVersions())
	}
}
