package crd

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/trellis-dev/trellis/pkg/simpleschema"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
)

// validateLikeAPIServer runs the apiserver's own CRD create validation
// (structural schema, defaults, CEL rules, names, printer columns).
func validateLikeAPIServer(t *testing.T, c *apiextv1.CustomResourceDefinition) {
	t.Helper()
	c = c.DeepCopy()
	apiextv1.SetDefaults_CustomResourceDefinition(c)
	var internal apiextensions.CustomResourceDefinition
	if err := apiextv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(c, &internal, nil); err != nil {
		t.Fatal(err)
	}
	if errs := validation.ValidateCustomResourceDefinition(context.Background(), &internal); len(errs) > 0 {
		t.Errorf("apiserver would reject %s:\n%v", c.Name, errs.ToAggregate())
	}
}

func TestBuiltCRDsPassAPIServerValidation(t *testing.T) {
	validateLikeAPIServer(t, Build(richInput(t)))
	validateLikeAPIServer(t, crdFor(t, "v1alpha1", "values: object | required=true", ""))
	validateLikeAPIServer(t, crdFor(t, "v1alpha1", `
replicas: integer | default=1 minimum=0 maximum=100
image: string | default="nginx:latest" pattern="^[a-z]" minLength=1 maxLength=200
env: string | enum="dev,prod" default=dev immutable=true validation="self != 'x'"
tags: "[]string | uniqueItems=true maxItems=5 default=[\"a\"]"
ports: "[]Port | listType=map listMapKey=name"
svc:
  enabled: boolean | default=true
  labels: "map[string]string"
cfg: Cfg
`, `
Port:
  name: string | required=true
  port: integer | default=80
Cfg:
  nested:
    deep: "map[string][]map[string]integer"
  free: object
`))
}

// Guards the test above: the validator must actually reject bad schemas.
func TestAPIServerValidationIsEffective(t *testing.T) {
	c := crdFor(t, "v1alpha1", `a: "[]string"`, "")
	spec := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	a := spec.Properties["a"]
	a.UniqueItems = true
	a.Default = &apiextv1.JSON{Raw: []byte(`"not-a-list"`)}
	spec.Properties["a"] = a
	c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec

	c = c.DeepCopy()
	apiextv1.SetDefaults_CustomResourceDefinition(c)
	var internal apiextensions.CustomResourceDefinition
	if err := apiextv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(c, &internal, nil); err != nil {
		t.Fatal(err)
	}
	errs := validation.ValidateCustomResourceDefinition(context.Background(), &internal)
	if len(errs) < 2 {
		t.Fatalf("expected uniqueItems and default errors, got %v", errs)
	}
}

// Every seed/e2e RGD schema kept as simpleschema testdata must yield a CRD the
// apiserver accepts.
func TestRGDSchemasPassAPIServerValidation(t *testing.T) {
	files, _ := filepath.Glob("../simpleschema/testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no simpleschema testdata found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Spec  map[string]any `json:"spec"`
				Types map[string]any `json:"types"`
			}
			if err := yaml.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			s, err := simpleschema.ToOpenAPI(doc.Spec, doc.Types)
			if err != nil {
				t.Fatal(err)
			}
			validateLikeAPIServer(t, Build(Input{Version: "v1alpha1", Kind: "Sample", Spec: s}))
		})
	}
}
