package v1alpha1

import (
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Schema describes the API kind an RGD creates.
type Schema struct {
	// Kind of the generated API (UpperCamelCase).
	// +kubebuilder:validation:Required
	// +kubebuilder:validation:Pattern=`^[A-Z][a-zA-Z0-9]{0,62}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="kind is immutable"
	Kind string `json:"kind"`
	// APIVersion is the single version of the generated API, e.g. v1alpha1.
	// +kubebuilder:validation:Required
	// +kubebuilder:validation:Pattern=`^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="apiVersion is immutable"
	APIVersion string `json:"apiVersion"`
	// Group of the generated API.
	// +kubebuilder:default="kro.run"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="group is immutable"
	// +optional
	Group string `json:"group,omitempty"`
	// Scope of the generated API.
	// +kubebuilder:validation:Enum=Namespaced;Cluster
	// +kubebuilder:default=Namespaced
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="scope is immutable"
	// +optional
	Scope extv1.ResourceScope `json:"scope,omitempty"`
	// Spec is the SimpleSchema of the instance spec.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	Spec runtime.RawExtension `json:"spec,omitempty"`
	// Types are custom SimpleSchema types usable in Spec.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	Types runtime.RawExtension `json:"types,omitempty"`
	// Status maps instance status fields to CEL expressions.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	Status runtime.RawExtension `json:"status,omitempty"`
	// AdditionalPrinterColumns replace the default printer columns when set.
	// +optional
	AdditionalPrinterColumns []extv1.CustomResourceColumnDefinition `json:"additionalPrinterColumns,omitempty"`
	// ShortNames of the generated API.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	ShortNames []string `json:"shortNames,omitempty"`
	// Categories of the generated API.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +listType=set
	// +optional
	Categories []string `json:"categories,omitempty"`
	// Metadata is put on the generated CRD object.
	// +optional
	Metadata *CRDMetadata `json:"metadata,omitempty"`
}

// CRDMetadata holds labels and annotations for the generated CRD.
type CRDMetadata struct {
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}

// ExternalRefMetadata names the object(s) an externalRef reads.
type ExternalRefMetadata struct {
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// ExternalRef points at objects trellis reads but never changes.
// +kubebuilder:validation:XValidation:rule="has(self.metadata.name) != has(self.metadata.selector)",message="exactly one of metadata.name or metadata.selector must be set"
type ExternalRef struct {
	// +kubebuilder:validation:Required
	APIVersion string `json:"apiVersion"`
	// +kubebuilder:validation:Required
	Kind string `json:"kind"`
	// +kubebuilder:validation:Required
	Metadata ExternalRefMetadata `json:"metadata"`
}

// ForEachDimension is one iterator of a collection: {iteratorName: "${list expression}"}.
// +kubebuilder:validation:MinProperties=1
// +kubebuilder:validation:MaxProperties=1
type ForEachDimension map[string]string

// Resource is one node of the graph.
// +kubebuilder:validation:XValidation:rule="!has(self.externalRef) || !has(self.forEach)",message="forEach cannot be combined with externalRef"
type Resource struct {
	// ID names the resource in CEL expressions (lowerCamelCase).
	// +kubebuilder:validation:Required
	// +kubebuilder:validation:Pattern=`^[a-z][a-zA-Z0-9]*$`
	ID string `json:"id"`
	// Template is the object to create.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +optional
	Template *runtime.RawExtension `json:"template,omitempty"`
	// ExternalRef reads an existing object instead of creating one.
	// +optional
	ExternalRef *ExternalRef `json:"externalRef,omitempty"`
	// ReadyWhen expressions must all be true for the resource to be ready.
	// +optional
	ReadyWhen []string `json:"readyWhen,omitempty"`
	// IncludeWhen expressions must all be true for the resource to exist.
	// +optional
	IncludeWhen []string `json:"includeWhen,omitempty"`
	// ForEach turns the resource into a collection.
	// +optional
	ForEach []ForEachDimension `json:"forEach,omitempty"`
}

// ResourceGraphDefinitionSpec defines a new API and the resources each instance expands to.
type ResourceGraphDefinitionSpec struct {
	// +kubebuilder:validation:Required
	Schema *Schema `json:"schema"`
	// +optional
	Resources []*Resource `json:"resources,omitempty"`
}

// ResourceGraphDefinitionState is Active or Inactive.
type ResourceGraphDefinitionState string

const (
	StateActive   ResourceGraphDefinitionState = "Active"
	StateInactive ResourceGraphDefinitionState = "Inactive"
)

// Dependency is an edge of the graph.
type Dependency struct {
	ID string `json:"id"`
}

// ResourceInformation lists a node's dependencies.
type ResourceInformation struct {
	ID           string       `json:"id"`
	Dependencies []Dependency `json:"dependencies,omitempty"`
}

// ResourceGraphDefinitionStatus is the observed state of an RGD.
type ResourceGraphDefinitionStatus struct {
	// +optional
	State ResourceGraphDefinitionState `json:"state,omitempty"`
	// +optional
	TopologicalOrder []string `json:"topologicalOrder,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	Resources []ResourceInformation `json:"resources,omitempty"`
	// +optional
	LastIssuedRevision int64 `json:"lastIssuedRevision,omitempty"`
}

// ResourceGraphDefinition defines a new API and the graph of resources behind it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=rgd,categories=kro
// +kubebuilder:printcolumn:name="APIVERSION",type=string,JSONPath=`.spec.schema.apiVersion`
// +kubebuilder:printcolumn:name="KIND",type=string,JSONPath=`.spec.schema.kind`
// +kubebuilder:printcolumn:name="STATE",type=string,JSONPath=`.status.state`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="TOPOLOGICALORDER",type=string,priority=1,JSONPath=`.status.topologicalOrder`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type ResourceGraphDefinition struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ResourceGraphDefinitionSpec   `json:"spec,omitempty"`
	Status ResourceGraphDefinitionStatus `json:"status,omitempty"`
}

// ResourceGraphDefinitionList is a list of RGDs.
// +kubebuilder:object:root=true
type ResourceGraphDefinitionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ResourceGraphDefinition `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ResourceGraphDefinition{}, &ResourceGraphDefinitionList{})
}
