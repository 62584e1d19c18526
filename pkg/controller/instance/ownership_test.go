package instance

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestCoveredByApply(t *testing.T) {
	live := func(manager, op, fields string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationType(op),
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}})
		return u
	}
	desired := &unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": "a", "labels": map[string]any{"x": "1"}},
		"data":     map[string]any{"ENV": "dev", "NEW": "y"},
	}}
	cases := []struct {
		name string
		live *unstructured.Unstructured
		want bool
	}{
		{"every owned field still set", live("trellis", "Update", `{"f:metadata":{"f:labels":{".":{},"f:x":{}}},"f:data":{".":{},"f:ENV":{}}}`), true},
		{"a field dropped from the template", live("trellis", "Update", `{"f:data":{".":{},"f:ENV":{},"f:PORT":{}}}`), false},
		{"a list item", live("trellis", "Update", `{"f:spec":{"f:ports":{"k:{\"port\":80}":{".":{}}}}}`), false},
		{"someone else's Update entry", live("kubectl", "Update", `{"f:data":{"f:PORT":{}}}`), true},
		{"trellis's Apply entry", live("trellis", "Apply", `{"f:data":{"f:PORT":{}}}`), true},
		{"no field set recorded", live("trellis", "Update", `null`), false},
	}
	for _, c := range cases {
		if got := coveredByApply(c.live, desired, "trellis"); got != c.want {
			t.Errorf("%s: covered = %v, want %v", c.name, got, c.want)
		}
	}
}
