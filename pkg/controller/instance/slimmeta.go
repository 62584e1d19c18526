package instance

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// slimMeta is the typed metadata a compact object keeps: what store keys,
// event filters, routing and the reflector read. Everything else stays in
// the object's JSON. It is a third of metav1.ObjectMeta's size, and the
// caches hold one per child of every instance.
type slimMeta struct {
	Name              string            `json:"name,omitempty"`
	Namespace         string            `json:"namespace,omitempty"`
	UID               types.UID         `json:"uid,omitempty"`
	ResourceVersion   string            `json:"resourceVersion,omitempty"`
	Generation        int64             `json:"generation,omitempty"`
	DeletionTimestamp *metav1.Time      `json:"deletionTimestamp,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
}

var _ metav1.Object = &slimMeta{}

func (m *slimMeta) GetNamespace() string                { return m.Namespace }
func (m *slimMeta) SetNamespace(v string)               { m.Namespace = v }
func (m *slimMeta) GetName() string                     { return m.Name }
func (m *slimMeta) SetName(v string)                    { m.Name = v }
func (m *slimMeta) GetUID() types.UID                   { return m.UID }
func (m *slimMeta) SetUID(v types.UID)                  { m.UID = v }
func (m *slimMeta) GetResourceVersion() string          { return m.ResourceVersion }
func (m *slimMeta) SetResourceVersion(v string)         { m.ResourceVersion = v }
func (m *slimMeta) GetGeneration() int64                { return m.Generation }
func (m *slimMeta) SetGeneration(v int64)               { m.Generation = v }
func (m *slimMeta) GetDeletionTimestamp() *metav1.Time  { return m.DeletionTimestamp }
func (m *slimMeta) SetDeletionTimestamp(v *metav1.Time) { m.DeletionTimestamp = v }
func (m *slimMeta) GetLabels() map[string]string        { return m.Labels }
func (m *slimMeta) SetLabels(v map[string]string)       { m.Labels = v }
func (m *slimMeta) GetAnnotations() map[string]string   { return m.Annotations }
func (m *slimMeta) SetAnnotations(v map[string]string)  { m.Annotations = v }

// Not kept (read them from the JSON): getters return zero values, setters
// do nothing.
func (m *slimMeta) GetGenerateName() string                       { return "" }
func (m *slimMeta) SetGenerateName(string)                        {}
func (m *slimMeta) GetSelfLink() string                           { return "" }
func (m *slimMeta) SetSelfLink(string)                            {}
func (m *slimMeta) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (m *slimMeta) SetCreationTimestamp(metav1.Time)              {}
func (m *slimMeta) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (m *slimMeta) SetDeletionGracePeriodSeconds(*int64)          {}
func (m *slimMeta) GetFinalizers() []string                       { return nil }
func (m *slimMeta) SetFinalizers([]string)                        {}
func (m *slimMeta) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (m *slimMeta) SetOwnerReferences([]metav1.OwnerReference)    {}
func (m *slimMeta) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (m *slimMeta) SetManagedFields([]metav1.ManagedFieldsEntry)  {}
