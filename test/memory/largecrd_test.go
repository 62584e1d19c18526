package memory

import (
	"fmt"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

func yamlUnmarshal(s string, v any) error { return yaml.Unmarshal([]byte(s), v) }

// propsPerCRD is the size of each third-party CRD's spec schema: 40 object
// fields of 10 documented leaves (~ the size of a large operator's CRD).
const (
	objectsPerCRD = 40
	leavesPerObj  = 10
	propsPerCRD   = objectsPerCRD * (leavesPerObj + 1)
)

// largeCRD is the i-th third-party-style CRD: its own group, two served
// versions (v1 stored, v1beta1 not), long descriptions and a wide spec.
func largeCRD(i int) *apiextv1.CustomResourceDefinition {
	spec := apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{}}
	for o := 0; o < objectsPerCRD; o++ {
		obj := apiextv1.JSONSchemaProps{Type: "object", Description: desc("object", o), Properties: map[string]apiextv1.JSONSchemaProps{}}
		for l := 0; l < leavesPerObj; l++ {
			leaf := apiextv1.JSONSchemaProps{Type: "string", Description: desc("leaf", l), MaxLength: ptr(int64(253))}
			if l%3 == 1 {
				leaf = apiextv1.JSONSchemaProps{Type: "integer", Description: desc("count", l), Minimum: ptr(0.0)}
			}
			obj.Properties[fmt.Sprintf("leaf%d", l)] = leaf
		}
		spec.Properties[fmt.Sprintf("field%d", o)] = obj
	}
	root := &apiextv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextv1.JSONSchemaProps{
		"spec":   spec,
		"status": {Type: "object", XPreserveUnknownFields: ptr(true)},
	}}
	group := fmt.Sprintf("example%d.thirdparty.io", i)
	kind := fmt.Sprintf("Widget%d", i)
	plural := fmt.Sprintf("widget%ds", i)
	version := func(name string, storage bool) apiextv1.CustomResourceDefinitionVersion {
		return apiextv1.CustomResourceDefinitionVersion{Name: name, Served: true, Storage: storage,
			Schema:       &apiextv1.CustomResourceValidation{OpenAPIV3Schema: root.DeepCopy()},
			Subresources: &apiextv1.CustomResourceSubresources{Status: &apiextv1.CustomResourceSubresourceStatus{}}}
	}
	return &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group:    group,
			Names:    apiextv1.CustomResourceDefinitionNames{Kind: kind, Plural: plural, ListKind: kind + "List", Singular: fmt.Sprintf("widget%d", i)},
			Scope:    apiextv1.NamespaceScoped,
			Versions: []apiextv1.CustomResourceDefinitionVersion{version("v1", true), version("v1beta1", false)},
		},
	}
}

func desc(what string, n int) string {
	return fmt.Sprintf("The %s number %d. Operators document every field at length, so schemas of real CRDs are mostly prose: "+
		"this sentence stands in for that, with enough words to weigh what real descriptions weigh in the OpenAPI documents "+
		"the API server publishes and a controller may download.", what, n)
}

func ptr[T any](v T) *T { return &v }
