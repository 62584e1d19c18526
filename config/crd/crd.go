// Package crd embeds the CRDs trellis ships for its own API (kro.run).
// They are generated from api/v1alpha1 by controller-gen (make generate).
package crd

import (
	"embed"
	"fmt"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

//go:embed bases/*.yaml
var bases embed.FS

// ResourceGraphDefinition returns the CRD of kro.run ResourceGraphDefinitions.
func ResourceGraphDefinition() (*extv1.CustomResourceDefinition, error) {
	return load("bases/kro.run_resourcegraphdefinitions.yaml")
}

// GraphRevision returns the CRD of internal.kro.run GraphRevisions.
func GraphRevision() (*extv1.CustomResourceDefinition, error) {
	return load("bases/internal.kro.run_graphrevisions.yaml")
}

func load(path string) (*extv1.CustomResourceDefinition, error) {
	raw, err := bases.ReadFile(path)
	if err != nil {
		return nil, err
	}
	crd := &extv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(raw, crd); err != nil {
		return nil, fmt.Errorf("embedded CRD %s: %w", path, err)
	}
	return crd, nil
}
