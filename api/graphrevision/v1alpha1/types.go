// Package v1alpha1 holds internal.kro.run/v1alpha1: GraphRevision, an
// immutable snapshot of an accepted ResourceGraphDefinition spec. Instances
// run on the newest revision; an RGD update that fails validation issues no
// revision, so instances keep the last good one, across restarts too.
// +kubebuilder:object:generate=true
// +groupName=internal.kro.run
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"

	kro "github.com/trellis-dev/trellis/api/v1alpha1"
)

var (
	// GroupVersion of GraphRevisions.
	GroupVersion = schema.GroupVersion{Group: "internal.kro.run", Version: "v1alpha1"}
	// SchemeBuilder registers the types.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}
	// AddToScheme adds the types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Labels of GraphRevisions.
const (
	LabelHash = "kro.run/graph-revision-hash"
)

// Snapshot is the RGD spec a revision was issued from.
type Snapshot struct {
	// Name of the ResourceGraphDefinition.
	Name string `json:"name"`
	// Generation of the RGD when the revision was issued.
	Generation int64 `json:"generation"`
	// Spec is a copy of the RGD spec.
	Spec kro.ResourceGraphDefinitionSpec `json:"spec"`
}

// GraphRevisionSpec is immutable.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
type GraphRevisionSpec struct {
	// Revision numbers grow per RGD, starting at 1.
	// +kubebuilder:validation:Minimum=1
	Revision int64    `json:"revision"`
	Snapshot Snapshot `json:"snapshot"`
}

// GraphRevisionStatus is the observed state of a revision.
type GraphRevisionStatus struct {
	// +optional
	TopologicalOrder []string `json:"topologicalOrder,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GraphRevision is an immutable, numbered snapshot of an RGD spec.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=gr
// +kubebuilder:selectablefield:JSONPath=`.spec.snapshot.name`
// +kubebuilder:printcolumn:name="RGD",type=string,priority=1,JSONPath=`.spec.snapshot.name`
// +kubebuilder:printcolumn:name="REVISION",type=integer,JSONPath=`.spec.revision`
// +kubebuilder:printcolumn:name="HASH",type=string,priority=1,JSONPath=`.metadata.labels.kro\.run/graph-revision-hash`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type GraphRevision struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GraphRevisionSpec   `json:"spec"`
	Status GraphRevisionStatus `json:"status,omitempty"`
}

// GraphRevisionList is a list of GraphRevisions.
// +kubebuilder:object:root=true
type GraphRevisionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GraphRevision `json:"items"`
}

func init() {
	SchemeBuilder.Register(&GraphRevision{}, &GraphRevisionList{})
}
