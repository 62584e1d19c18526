package ack

import (
	ctrl "sigs.k8s.io/controller-runtime"

	dynamodbv1alpha1 "github.com/trellis-dev/trellis/api/ack/dynamodb/v1alpha1"
	ackdynamodb "github.com/trellis-dev/trellis/pkg/ack/dynamodb"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func init() {
	register(service{
		name: "dynamodb", crds: []string{"tables.dynamodb.services.k8s.aws"}, scheme: dynamodbv1alpha1.AddToScheme,
		setup: func(mgr ctrl.Manager, aws *ackrt.AWS, cfg ackrt.Config) error {
			return (&ackrt.Reconciler[*dynamodbv1alpha1.Table]{
				Manager: ackdynamodb.TableManager{}, AWS: aws, Config: cfg,
				GVK: dynamodbv1alpha1.GroupVersion.WithKind("Table"),
			}).SetupWithManager(mgr)
		},
	})
}
