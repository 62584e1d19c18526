package instance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// KroFieldManager is the server-side-apply field manager kro (v0.9) applies
// children with. Fields a child's kro entry owns are trellis's after a
// switch from kro: they move into trellis's Apply entry before trellis's
// first apply of that child that would not set them all, so a field
// removed from a template disappears from children kro created.
const KroFieldManager = "kro.run/applyset"

// inherited reports whether a managed-fields entry holds fields trellis
// must move into its own Apply entry before applying: its own Update entry
// (a child it created with POST) or a predecessor's Apply entry.
func inherited(manager string, op metav1.ManagedFieldsOperationType, subresource, self string, predecessors []string) bool {
	if subresource != "" {
		return false
	}
	if manager == self {
		return op == metav1.ManagedFieldsOperationUpdate
	}
	if op != metav1.ManagedFieldsOperationApply {
		return false
	}
	for _, p := range predecessors {
		if manager == p {
			return true
		}
	}
	return false
}

// coveredByApply reports whether desired sets every field that the entries
// trellis inherits on live own: then applying desired cannot leave a field
// behind that only such an entry holds. Paths into lists are not followed
// (comparing list items needs the schema) and count as not covered, as
// does anything unreadable.
func coveredByApply(live, desired *unstructured.Unstructured, manager string, predecessors ...string) bool {
	for _, e := range live.GetManagedFields() {
		if !inherited(e.Manager, e.Operation, e.Subresource, manager, predecessors) {
			continue
		}
		if e.FieldsV1 == nil {
			return false
		}
		set := &fieldpath.Set{}
		if err := set.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
			return false
		}
		covered := true
		set.Iterate(func(p fieldpath.Path) {
			covered = covered && hasPath(desired.Object, p)
		})
		if !covered {
			return false
		}
	}
	return true
}

// hasPath reports whether obj has the field at p (field names only).
func hasPath(obj map[string]any, p fieldpath.Path) bool {
	var cur any = obj
	for _, el := range p {
		m, ok := cur.(map[string]any)
		if el.FieldName == nil || !ok {
			return false
		}
		if cur, ok = m[*el.FieldName]; !ok {
			return false
		}
	}
	return true
}

// inheritManagedFields returns live's managed fields with every inherited
// entry folded into manager's Apply entry: predecessors' Apply entries are
// united with it (server-side apply has no helper for a manager rename),
// then manager's own Update entry is upgraded by client-go's csaupgrade.
// It returns nil when there is nothing to move.
func inheritManagedFields(live *unstructured.Unstructured, manager string, predecessors []string, now time.Time) ([]metav1.ManagedFieldsEntry, error) {
	entries := live.GetManagedFields()
	var (
		kept    []metav1.ManagedFieldsEntry
		own     = -1
		adopted fieldpath.Set
		from    *metav1.ManagedFieldsEntry
	)
	for i := range entries {
		e := entries[i]
		if e.Manager == manager && e.Operation == metav1.ManagedFieldsOperationApply && e.Subresource == "" {
			own = len(kept)
		}
		if e.Manager == manager || !inherited(e.Manager, e.Operation, e.Subresource, manager, predecessors) {
			kept = append(kept, e)
			continue
		}
		set, err := decodeFields(e)
		if err != nil {
			return nil, fmt.Errorf("managed fields of %s: %w", e.Manager, err)
		}
		adopted = *adopted.Union(&set)
		if from == nil {
			from = &entries[i]
		}
	}
	if from != nil {
		if own < 0 {
			kept = append(kept, metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationApply,
				APIVersion: from.APIVersion, FieldsType: "FieldsV1"})
			own = len(kept) - 1
		} else {
			set, err := decodeFields(kept[own])
			if err != nil {
				return nil, fmt.Errorf("managed fields of %s: %w", manager, err)
			}
			adopted = *adopted.Union(&set)
		}
		raw, err := adopted.ToJSON()
		if err != nil {
			return nil, err
		}
		kept[own].FieldsV1 = &metav1.FieldsV1{Raw: raw}
		kept[own].Time = &metav1.Time{Time: now.UTC().Truncate(time.Second)}
	}
	// The same object with the predecessors folded in, for csaupgrade.
	obj := live.DeepCopy()
	obj.SetManagedFields(kept)
	if err := csaupgrade.UpgradeManagedFields(obj, sets.New(manager), manager); err != nil {
		return nil, err
	}
	out := obj.GetManagedFields()
	if from == nil && len(out) == len(entries) && managedFieldsEqual(out, entries) {
		return nil, nil
	}
	return out, nil
}

func decodeFields(e metav1.ManagedFieldsEntry) (fieldpath.Set, error) {
	var s fieldpath.Set
	if e.FieldsV1 == nil {
		return s, nil
	}
	err := s.FromJSON(bytes.NewReader(e.FieldsV1.Raw))
	return s, err
}

func managedFieldsEqual(a, b []metav1.ManagedFieldsEntry) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// managedFieldsPatch is a JSON patch that replaces live's managed fields
// with entries, guarded by live's resourceVersion.
func managedFieldsPatch(live *unstructured.Unstructured, entries []metav1.ManagedFieldsEntry) ([]byte, error) {
	return json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/resourceVersion", "value": live.GetResourceVersion()},
		{"op": "replace", "path": "/metadata/managedFields", "value": entries},
	})
}
