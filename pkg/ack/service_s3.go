package ack

import (
	ctrl "sigs.k8s.io/controller-runtime"

	s3v1alpha1 "github.com/trellis-dev/trellis/api/ack/s3/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
	acks3 "github.com/trellis-dev/trellis/pkg/ack/s3"
)

func init() {
	register(service{
		name: "s3", crds: []string{"buckets.s3.services.k8s.aws"}, scheme: s3v1alpha1.AddToScheme,
		setup: func(mgr ctrl.Manager, aws *ackrt.AWS, cfg ackrt.Config) error {
			return (&ackrt.Reconciler[*s3v1alpha1.Bucket]{
				Manager: acks3.BucketManager{}, AWS: aws, Config: cfg,
				GVK: s3v1alpha1.GroupVersion.WithKind("Bucket"),
			}).SetupWithManager(mgr)
		},
	})
}
