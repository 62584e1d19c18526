package runtime

import "k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

// Labels and annotations trellis puts on instances and children. They are
// kro's, so selectors and habits carry over.
const (
	LabelOwned             = "kro.run/owned"
	LabelKroVersion        = "kro.run/kro-version"
	LabelRGDName           = "kro.run/resource-graph-definition-name"
	LabelRGDID             = "kro.run/resource-graph-definition-id"
	LabelInstanceID        = "kro.run/instance-id"
	LabelInstanceName      = "kro.run/instance-name"
	LabelInstanceNamespace = "kro.run/instance-namespace"
	LabelInstanceGroup     = "kro.run/instance-group"
	LabelInstanceVersion   = "kro.run/instance-version"
	LabelInstanceKind      = "kro.run/instance-kind"
	LabelManagedBy         = "app.kubernetes.io/managed-by"
	LabelNodeID            = "kro.run/node-id"
	LabelCollectionIndex   = "kro.run/collection-index"
	LabelCollectionSize    = "kro.run/collection-size"

	AnnotationApplyOrder = "internal.kro.run/apply-order"
	// AnnotationDesiredHash fingerprints the desired state last applied, so
	// an unchanged child is not applied again.
	AnnotationDesiredHash = "trellis.dev/desired-hash"
)

// ChildLabels are the labels every child of an instance carries; children
// are found, routed and pruned by them.
func ChildLabels(instance *unstructured.Unstructured, version string) map[string]string {
	gvk := instance.GroupVersionKind()
	l := map[string]string{
		LabelOwned:           "true",
		LabelKroVersion:      version,
		LabelInstanceID:      string(instance.GetUID()),
		LabelInstanceName:    instance.GetName(),
		LabelInstanceGroup:   gvk.Group,
		LabelInstanceVersion: gvk.Version,
		LabelInstanceKind:    gvk.Kind,
		LabelManagedBy:       "kro",
	}
	if instance.GetNamespace() != "" {
		l[LabelInstanceNamespace] = instance.GetNamespace()
	}
	return l
}
