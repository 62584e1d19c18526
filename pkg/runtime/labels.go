package runtime

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

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

// InstanceLabels are the labels an instance (and the CRD generated for its
// kind) carries, as kro sets them.
func InstanceLabels(version, rgdName, rgdUID string) map[string]string {
	return map[string]string{
		LabelOwned:      "true",
		LabelKroVersion: version,
		LabelRGDName:    rgdName,
		LabelRGDID:      rgdUID,
	}
}

// ChildLabelSet selects which of kro's labels children carry.
type ChildLabelSet string

const (
	// ChildLabelsLean is the default: kro.run/owned, kro.run/instance-name,
	// kro.run/instance-id and kro.run/node-id (plus the collection labels).
	// The apiserver pays for every label on every write and every watch
	// event of every child; these four are the ones selectors use.
	ChildLabelsLean ChildLabelSet = "lean"
	// ChildLabelsKro adds the rest of kro's set: kro-version, managed-by,
	// instance-namespace, instance-group, instance-version, instance-kind.
	ChildLabelsKro ChildLabelSet = "kro"
)

// ParseChildLabelSet reads a --child-labels value.
func ParseChildLabelSet(s string) (ChildLabelSet, error) {
	switch ChildLabelSet(s) {
	case ChildLabelsLean, ChildLabelsKro:
		return ChildLabelSet(s), nil
	case "":
		return ChildLabelsLean, nil
	}
	return "", fmt.Errorf("child labels %q: want %q or %q", s, ChildLabelsLean, ChildLabelsKro)
}

// ChildLabels are the labels every child of an instance carries; children
// are found, routed (by instance-id) and pruned by them.
func ChildLabels(instance *unstructured.Unstructured, version string, set ChildLabelSet) map[string]string {
	l := map[string]string{
		LabelOwned:        "true",
		LabelInstanceID:   string(instance.GetUID()),
		LabelInstanceName: instance.GetName(),
	}
	if set != ChildLabelsKro {
		return l
	}
	gvk := instance.GroupVersionKind()
	l[LabelKroVersion] = version
	l[LabelInstanceGroup] = gvk.Group
	l[LabelInstanceVersion] = gvk.Version
	l[LabelInstanceKind] = gvk.Kind
	l[LabelManagedBy] = "kro"
	if instance.GetNamespace() != "" {
		l[LabelInstanceNamespace] = instance.GetNamespace()
	}
	return l
}
