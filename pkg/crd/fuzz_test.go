package crd

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"sigs.k8s.io/yaml"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"

	"github.com/trellis-dev/trellis/pkg/simpleschema"
)

// FuzzBuild generates instance CRDs from arbitrary SimpleSchema documents
// (spec:, types:, as in ../simpleschema/testdata) and checks that whatever
// SimpleSchema accepts, the API server's own CRD validation accepts too: an
// RGD that passes trellis's checks must not fail later at CRD creation.
func FuzzBuild(f *testing.F) {
	files, _ := filepath.Glob("../simpleschema/testdata/*.yaml")
	for _, file := range files {
		if raw, err := os.ReadFile(file); err == nil {
			f.Add(string(raw), "v1alpha1", "App")
		}
	}
	f.Fuzz(func(t *testing.T, doc, version, kind string) {
		var in struct {
			Spec  map[string]any `json:"spec"`
			Types map[string]any `json:"types"`
		}
		if yaml.Unmarshal([]byte(doc), &in) != nil {
			return
		}
		spec, err := simpleschema.ToOpenAPI(in.Spec, in.Types)
		if err != nil {
			return // FuzzToOpenAPI checks the errors
		}
		// graph.Build validates kind and version before it builds the CRD.
		if !kindRE.MatchString(kind) || !versionRE.MatchString(version) {
			return
		}
		c := Build(Input{Version: version, Kind: kind, Spec: spec})
		c = c.DeepCopy()
		apiextv1.SetDefaults_CustomResourceDefinition(c)
		var internal apiextensions.CustomResourceDefinition
		if err := apiextv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(c, &internal, nil); err != nil {
			t.Fatal(err)
		}
		if errs := validation.ValidateCustomResourceDefinition(context.Background(), &internal); len(errs) > 0 {
			t.Fatalf("SimpleSchema accepted a schema the API server rejects: %v", errs.ToAggregate())
		}
	})
}

// The patterns graph.Build enforces on spec.schema.kind and apiVersion.
var (
	kindRE    = regexp.MustCompile(`^[A-Z][a-zA-Z0-9]*$`)
	versionRE = regexp.MustCompile(`^v[0-9]+(alpha[0-9]+|beta[0-9]+)?$`)
)
