package instance

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

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

func TestCoveredByApplyCountsKrosEntry(t *testing.T) {
	live := &unstructured.Unstructured{Object: map[string]any{}}
	live.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: KroFieldManager, Operation: metav1.ManagedFieldsOperationApply,
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:data":{"f:PORT":{}}}`)}}})
	desired := &unstructured.Unstructured{Object: map[string]any{"data": map[string]any{"ENV": "dev"}}}
	if coveredByApply(live, desired, "trellis", predecessors...) {
		t.Error("a field only kro's entry owns counts as covered")
	}
	if !coveredByApply(live, desired, "trellis") {
		t.Error("without predecessors kro's entry should not count")
	}
}

func TestInheritManagedFields(t *testing.T) {
	entry := func(manager, op, sub, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationType(op), APIVersion: "v1",
			Subresource: sub, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	summary := func(es []metav1.ManagedFieldsEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, fmt.Sprintf("%s/%s/%s %s", e.Manager, e.Operation, e.Subresource, e.FieldsV1.Raw))
		}
		sort.Strings(out)
		return out
	}
	cases := []struct {
		name string
		live []metav1.ManagedFieldsEntry
		want []string // nil: nothing to move
	}{{
		name: "kro's apply entry becomes trellis's",
		live: []metav1.ManagedFieldsEntry{
			entry(KroFieldManager, "Apply", "", `{"f:data":{"f:A":{},"f:B":{}}}`),
			entry("kro", "Update", "status", `{"f:status":{"f:state":{}}}`),
			entry("kubectl", "Apply", "", `{"f:data":{"f:C":{}}}`),
		},
		want: []string{
			`kro/Update/status {"f:status":{"f:state":{}}}`,
			`kubectl/Apply/ {"f:data":{"f:C":{}}}`,
			`trellis/Apply/ {"f:data":{"f:A":{},"f:B":{}}}`,
		},
	}, {
		name: "united with trellis's own entries",
		live: []metav1.ManagedFieldsEntry{
			entry(KroFieldManager, "Apply", "", `{"f:data":{"f:A":{},"f:B":{}}}`),
			entry("trellis", "Apply", "", `{"f:data":{"f:A":{},"f:D":{}}}`),
			entry("trellis", "Update", "", `{"f:data":{"f:E":{}}}`),
		},
		want: []string{`trellis/Apply/ {"f:data":{"f:A":{},"f:B":{},"f:D":{},"f:E":{}}}`},
	}, {
		name: "kro's update entries are not kro's apply",
		live: []metav1.ManagedFieldsEntry{
			entry(KroFieldManager, "Update", "", `{"f:data":{"f:A":{}}}`),
			entry("trellis", "Apply", "", `{"f:data":{"f:D":{}}}`),
		},
	}}
	for _, c := range cases {
		live := &unstructured.Unstructured{Object: map[string]any{}}
		live.SetManagedFields(c.live)
		got, err := inheritManagedFields(live, "trellis", predecessors, now)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.want == nil {
			if got != nil {
				t.Errorf("%s: moved %v, want nothing", c.name, summary(got))
			}
			continue
		}
		if g := summary(got); !reflect.DeepEqual(g, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, g, c.want)
		}
	}
}

// The informer notes children whose fields kro's Apply entry owns, so the
// first apply after a switch from kro takes them over.
func TestKroAppliedChildIsInherited(t *testing.T) {
	child := func(manager, op string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"n","managedFields":[` +
			`{"manager":"` + manager + `","operation":"` + op + `","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{"f:A":{}}}}]},"data":{"A":"1"}}`)
	}
	cases := []struct {
		manager, op string
		want        bool
	}{
		{KroFieldManager, "Apply", true},
		{"trellis", "Update", true},
		{"trellis", "Apply", false},
		{"kubectl", "Apply", false},
		{KroFieldManager, "Update", false},
	}
	for _, c := range cases {
		cp, err := compactFromJSON(child(c.manager, c.op), decodeOptions{routingOnly: true, fieldManager: "trellis"})
		if err != nil {
			t.Fatal(err)
		}
		if cp.updateOwned != c.want {
			t.Errorf("%s/%s: inherited = %v, want %v", c.manager, c.op, cp.updateOwned, c.want)
		}
	}
}
