package ack

import (
	ctrl "sigs.k8s.io/controller-runtime"

	sqsv1alpha1 "github.com/trellis-dev/trellis/api/ack/sqs/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
	acksqs "github.com/trellis-dev/trellis/pkg/ack/sqs"
)

func init() {
	register(service{
		name: "sqs", crds: []string{"queues.sqs.services.k8s.aws"}, scheme: sqsv1alpha1.AddToScheme,
		setup: func(mgr ctrl.Manager, aws *ackrt.AWS, cfg ackrt.Config) error {
			return (&ackrt.Reconciler[*sqsv1alpha1.Queue]{
				Manager: acksqs.QueueManager{}, AWS: aws, Config: cfg,
				GVK: sqsv1alpha1.GroupVersion.WithKind("Queue"),
			}).SetupWithManager(mgr)
		},
	})
}
