package ack

import (
	ctrl "sigs.k8s.io/controller-runtime"

	ec2v1alpha1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
	ackec2 "github.com/trellis-dev/trellis/pkg/ack/ec2"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func init() {
	register(service{
		name:   "ec2",
		crds:   []string{"vpcs.ec2.services.k8s.aws", "subnets.ec2.services.k8s.aws", "securitygroups.ec2.services.k8s.aws"},
		scheme: ec2v1alpha1.AddToScheme,
		setup: func(mgr ctrl.Manager, aws *ackrt.AWS, cfg ackrt.Config) error {
			gv := ec2v1alpha1.GroupVersion
			if err := (&ackrt.Reconciler[*ec2v1alpha1.VPC]{
				Manager: ackec2.VPCManager{}, AWS: aws, Config: cfg, GVK: gv.WithKind("VPC"),
			}).SetupWithManager(mgr); err != nil {
				return err
			}
			if err := (&ackrt.Reconciler[*ec2v1alpha1.Subnet]{
				Manager: ackec2.SubnetManager{}, AWS: aws, Config: cfg, GVK: gv.WithKind("Subnet"),
			}).SetupWithManager(mgr); err != nil {
				return err
			}
			return (&ackrt.Reconciler[*ec2v1alpha1.SecurityGroup]{
				Manager: ackec2.SecurityGroupManager{}, AWS: aws, Config: cfg, GVK: gv.WithKind("SecurityGroup"),
			}).SetupWithManager(mgr)
		},
	})
}
