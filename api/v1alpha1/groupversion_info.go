// Package v1alpha1 holds the kro.run/v1alpha1 API that trellis serves:
// ResourceGraphDefinition, field for field compatible with kro.
// +kubebuilder:object:generate=true
// +groupName=kro.run
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the RGD API.
	GroupVersion = schema.GroupVersion{Group: "kro.run", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Well-known names shared with kro, so manifests and habits carry over.
const (
	// DefaultGroup is the API group of generated instance CRDs when the RGD names none.
	DefaultGroup = "kro.run"
	// Finalizer is put on RGDs and instances.
	Finalizer = "kro.run/finalizer"
	// AllowBreakingChangesAnnotation lets a breaking CRD schema change through.
	AllowBreakingChangesAnnotation = "kro.run/allow-breaking-changes"
	// ReconcileAnnotation set to "suspended" (or "disabled") pauses an instance.
	ReconcileAnnotation = "kro.run/reconcile"
)
