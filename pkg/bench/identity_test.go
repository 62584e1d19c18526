package bench

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/identity"
)

func TestWithServiceAccountAnnotatesTheWorkload(t *testing.T) {
	o := Options{Controller: func(context.Context, string, int, string) (Controller, error) { return nil, nil }}
	if err := WithServiceAccount(&o, "bench/identity"); err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(o.RGD, &u.Object); err != nil {
		t.Fatal(err)
	}
	if got := u.GetAnnotations()[identity.Annotation]; got != "bench/identity" {
		t.Errorf("annotation %s = %q, want bench/identity", identity.Annotation, got)
	}
	if res, _, _ := unstructured.NestedSlice(u.Object, "spec", "resources"); len(res) != 5 {
		t.Errorf("%d resources, want BenchApp's 5", len(res))
	}
	for _, bad := range []string{"identity", "{instance-namespace}/identity"} {
		if err := WithServiceAccount(&Options{Controller: o.Controller}, bad); err == nil {
			t.Errorf("WithServiceAccount(%q): no error", bad)
		}
	}
}
