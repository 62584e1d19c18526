// Package secretsstore embeds the SecretProviderClass CRD (schema only) that
// `trellis up --aws-local` installs for the seed RGDs.
package secretsstore

import (
	_ "embed"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

//go:embed secrets-store.csi.x-k8s.io_secretproviderclasses.yaml
var secretProviderClass []byte

// SecretProviderClass returns the CRD.
func SecretProviderClass() (*apiextv1.CustomResourceDefinition, error) {
	crd := &apiextv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(secretProviderClass, crd); err != nil {
		return nil, err
	}
	return crd, nil
}
