package ack

import (
	ctrl "sigs.k8s.io/controller-runtime"

	iamv1alpha1 "github.com/trellis-dev/trellis/api/ack/iam/v1alpha1"
	ackiam "github.com/trellis-dev/trellis/pkg/ack/iam"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func init() {
	register(service{
		name: "iam", crds: []string{"policies.iam.services.k8s.aws", "roles.iam.services.k8s.aws"}, scheme: iamv1alpha1.AddToScheme,
		setup: func(mgr ctrl.Manager, aws *ackrt.AWS, cfg ackrt.Config) error {
			if err := (&ackrt.Reconciler[*iamv1alpha1.Policy]{
				Manager: ackiam.PolicyManager{}, AWS: aws, Config: cfg,
				GVK: iamv1alpha1.GroupVersion.WithKind("Policy"),
			}).SetupWithManager(mgr); err != nil {
				return err
			}
			return (&ackrt.Reconciler[*iamv1alpha1.Role]{
				Manager: ackiam.RoleManager{}, AWS: aws, Config: cfg,
				GVK: iamv1alpha1.GroupVersion.WithKind("Role"),
			}).SetupWithManager(mgr)
		},
	})
}
