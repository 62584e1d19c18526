package instance

import (
	"bytes"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// coveredByApply reports whether desired sets every field that manager's
// Update entry on live owns: then applying desired cannot leave a field
// behind that only the Update entry holds. Paths into lists are not
// followed (comparing list items needs the schema) and count as not
// covered, as does anything unreadable.
func coveredByApply(live, desired *unstructured.Unstructured, manager string) bool {
	for _, e := range live.GetManagedFields() {
		if e.Manager != manager || e.Operation != metav1.ManagedFieldsOperationUpdate || e.Subresource != "" {
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
