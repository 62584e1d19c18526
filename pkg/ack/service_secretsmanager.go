package ack

import (
	ctrl "sigs.k8s.io/controller-runtime"

	smv1alpha1 "github.com/trellis-dev/trellis/api/ack/secretsmanager/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
	acksm "github.com/trellis-dev/trellis/pkg/ack/secretsmanager"
)

func init() {
	register(service{
		name: "secretsmanager", crds: []string{"secrets.secretsmanager.services.k8s.aws"}, scheme: smv1alpha1.AddToScheme,
		setup: func(mgr ctrl.Manager, aws *ackrt.AWS, cfg ackrt.Config) error {
			return (&ackrt.Reconciler[*smv1alpha1.Secret]{
				Manager: acksm.SecretManager{}, AWS: aws, Config: cfg,
				GVK: smv1alpha1.GroupVersion.WithKind("Secret"),
			}).SetupWithManager(mgr)
		},
	})
}
