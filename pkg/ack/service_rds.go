package ack

import (
	ctrl "sigs.k8s.io/controller-runtime"

	rdsv1alpha1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	ackrds "github.com/trellis-dev/trellis/pkg/ack/rds"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func init() {
	register(service{
		name:   "rds",
		crds:   []string{"dbsubnetgroups.rds.services.k8s.aws", "dbinstances.rds.services.k8s.aws"},
		scheme: rdsv1alpha1.AddToScheme,
		setup: func(mgr ctrl.Manager, aws *ackrt.AWS, cfg ackrt.Config) error {
			if err := (&ackrt.Reconciler[*rdsv1alpha1.DBSubnetGroup]{
				Manager: ackrds.DBSubnetGroupManager{}, AWS: aws, Config: cfg,
				GVK: rdsv1alpha1.GroupVersion.WithKind("DBSubnetGroup"),
			}).SetupWithManager(mgr); err != nil {
				return err
			}
			return (&ackrt.Reconciler[*rdsv1alpha1.DBInstance]{
				Manager: ackrds.DBInstanceManager{}, AWS: aws, Config: cfg,
				GVK: rdsv1alpha1.GroupVersion.WithKind("DBInstance"),
			}).SetupWithManager(mgr)
		},
	})
}
