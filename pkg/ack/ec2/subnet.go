package ec2

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	v1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// SubnetManager implements runtime.Manager for Subnet. The subnet is
// identified by status.subnetID, and before it has one by the owner tag.
type SubnetManager struct{}

var (
	_ ackrt.Manager[*v1.Subnet]           = SubnetManager{}
	_ ackrt.ReferenceResolver[*v1.Subnet] = SubnetManager{}
)

// Service implements runtime.Manager.
func (SubnetManager) Service() string { return "ec2" }

// Kind implements runtime.Manager.
func (SubnetManager) Kind() string { return "Subnet" }

// New implements runtime.Manager.
func (SubnetManager) New() *v1.Subnet { return &v1.Subnet{} }

// Classifier implements runtime.Manager: ACK's terminal codes plus the
// CIDR errors no retry can fix. DependencyViolation on delete is retried.
func (SubnetManager) Classifier() ackrt.Classifier {
	return ackrt.Classifier{
		NotFoundCodes: []string{"InvalidSubnetID.NotFound"},
		TerminalCodes: []string{
			"InvalidVpcID.Malformed", "InvalidVpcID.NotFound",
			"InvalidSubnet.Range", "InvalidSubnet.Conflict", "InvalidParameterValue", "MissingParameter",
		},
	}
}

// AdoptionFields implements runtime.Manager: {"subnetID": "subnet-…"} as
// ACK names it, or {"id": "subnet-…"}.
func (SubnetManager) AdoptionFields(s *v1.Subnet, fields map[string]string) error {
	id, err := idField(fields, "subnetID")
	if err != nil {
		return err
	}
	s.Status.SubnetID = &id
	return nil
}

// Validate implements runtime.Manager.
func (SubnetManager) Validate(s *v1.Subnet) error {
	if aws.ToString(s.Status.SubnetID) == "" && (aws.ToString(s.Spec.VPCID) == "" || aws.ToString(s.Spec.CIDRBlock) == "") {
		return ackrt.Terminal("spec.cidrBlock and spec.vpcID (or spec.vpcRef) are required")
	}
	return nil
}

// ARN implements runtime.Manager: EC2's SubnetArn.
func (SubnetManager) ARN(env ackrt.Env, s *v1.Subnet) string {
	if s.Status.SubnetID == nil {
		return ""
	}
	return fmt.Sprintf("arn:%s:ec2:%s:%s:subnet/%s", partition(env), env.Region, env.AccountID, *s.Status.SubnetID)
}

// ResolveReferences implements runtime.ReferenceResolver: vpcRef.
func (SubnetManager) ResolveReferences(ctx context.Context, refs *ackrt.Refs, s *v1.Subnet) error {
	if err := ackrt.Exclusive("vpcID", s.Spec.VPCID != nil, "vpcRef", s.Spec.VPCRef != nil); err != nil {
		return err
	}
	if s.Spec.VPCRef == nil {
		return nil
	}
	id, err := refs.Resolve(ctx, "vpcRef", s.Spec.VPCRef, vpcGVK, "status", "vpcID")
	if err != nil {
		return err
	}
	s.Spec.VPCID = &id
	return nil
}

// ClearResolvedReferences implements runtime.ReferenceResolver.
func (SubnetManager) ClearResolvedReferences(s *v1.Subnet) {
	if s.Spec.VPCRef != nil {
		s.Spec.VPCID = nil
	}
}

// ReadOne implements runtime.Manager: DescribeSubnets.
func (SubnetManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.Subnet) (*v1.Subnet, error) {
	in := &ec2.DescribeSubnetsInput{}
	if id := aws.ToString(desired.Status.SubnetID); id != "" {
		in.SubnetIds = []string{id}
	} else {
		in.Filters = ownerFilter(desired)
	}
	out, err := client(env).DescribeSubnets(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(out.Subnets) == 0 {
		return nil, ackrt.ErrNotFound
	}
	sn := out.Subnets[0]
	latest := desired.DeepCopy()
	s, st := &latest.Spec, &latest.Status
	s.AvailabilityZone, s.AvailabilityZoneID, s.CIDRBlock = sn.AvailabilityZone, sn.AvailabilityZoneId, sn.CidrBlock
	s.MapPublicIPOnLaunch = aws.Bool(aws.ToBool(sn.MapPublicIpOnLaunch))
	s.VPCID = sn.VpcId
	s.Tags = tagsFrom(sn.Tags)
	st.AvailableIPAddressCount, st.EnableLniAtDeviceIndex = int64p(sn.AvailableIpAddressCount), int64p(sn.EnableLniAtDeviceIndex)
	st.DefaultForAZ, st.MapCustomerOwnedIPOnLaunch, st.OwnerID = sn.DefaultForAz, sn.MapCustomerOwnedIpOnLaunch, sn.OwnerId
	st.State, st.SubnetID = strp(string(sn.State)), sn.SubnetId
	st.IPv6CIDRBlockAssociationSet = nil
	for _, a := range sn.Ipv6CidrBlockAssociationSet {
		b := &v1.SubnetIPv6CIDRBlockAssociation{AssociationID: a.AssociationId, IPv6CIDRBlock: a.Ipv6CidrBlock}
		if a.Ipv6CidrBlockState != nil {
			b.IPv6CIDRBlockState = &v1.CIDRBlockState{State: strp(string(a.Ipv6CidrBlockState.State)), StatusMessage: a.Ipv6CidrBlockState.StatusMessage}
		}
		st.IPv6CIDRBlockAssociationSet = append(st.IPv6CIDRBlockAssociationSet, b)
	}
	st.PrivateDNSNameOptionsOnLaunch = nil
	if o := sn.PrivateDnsNameOptionsOnLaunch; o != nil {
		st.PrivateDNSNameOptionsOnLaunch = &v1.PrivateDNSNameOptionsOnLaunch{
			EnableResourceNameDNSAAAARecord: o.EnableResourceNameDnsAAAARecord,
			EnableResourceNameDNSARecord:    o.EnableResourceNameDnsARecord,
			HostnameType:                    strp(string(o.HostnameType)),
		}
	}
	return latest, nil
}

// Delta implements runtime.Manager.
func (SubnetManager) Delta(desired, latest *v1.Subnet) []string {
	var d []string
	for _, f := range []struct {
		path      string
		want, got *string
	}{
		{"spec.availabilityZone", desired.Spec.AvailabilityZone, latest.Spec.AvailabilityZone},
		{"spec.availabilityZoneID", desired.Spec.AvailabilityZoneID, latest.Spec.AvailabilityZoneID},
		{"spec.cidrBlock", desired.Spec.CIDRBlock, latest.Spec.CIDRBlock},
		{"spec.vpcID", desired.Spec.VPCID, latest.Spec.VPCID},
	} {
		if strDiffers(f.want, f.got) {
			d = append(d, f.path)
		}
	}
	if boolDiffers(desired.Spec.MapPublicIPOnLaunch, latest.Spec.MapPublicIPOnLaunch) {
		d = append(d, "spec.mapPublicIPOnLaunch")
	}
	if tagsDiffer(desired.Spec.Tags, latest.Spec.Tags) {
		d = append(d, "spec.tags")
	}
	return d
}

// Create implements runtime.Manager: CreateSubnet with the tags, then
// mapPublicIPOnLaunch.
func (SubnetManager) Create(ctx context.Context, env ackrt.Env, desired *v1.Subnet) (*v1.Subnet, error) {
	c := client(env)
	out, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{
		VpcId: desired.Spec.VPCID, CidrBlock: desired.Spec.CIDRBlock,
		AvailabilityZone: desired.Spec.AvailabilityZone, AvailabilityZoneId: desired.Spec.AvailabilityZoneID,
		TagSpecifications: tagSpecs(ec2types.ResourceTypeSubnet, desired.Spec.Tags, desired),
	})
	if err != nil {
		return nil, err
	}
	if aws.ToBool(desired.Spec.MapPublicIPOnLaunch) {
		if err := setMapPublicIP(ctx, c, out.Subnet.SubnetId, true); err != nil {
			return nil, afterCreate("subnet", aws.ToString(out.Subnet.SubnetId), err)
		}
	}
	created := desired.DeepCopy()
	created.Status.SubnetID = out.Subnet.SubnetId
	created.Status.State = strp(string(out.Subnet.State))
	return created, nil
}

func setMapPublicIP(ctx context.Context, c *ec2.Client, id *string, v bool) error {
	_, err := c.ModifySubnetAttribute(ctx, &ec2.ModifySubnetAttributeInput{SubnetId: id,
		MapPublicIpOnLaunch: &ec2types.AttributeBooleanValue{Value: aws.Bool(v)}})
	return err
}

// Update implements runtime.Manager. The VPC, block and zone of a subnet
// cannot change: a change is terminal, never a second subnet.
func (m SubnetManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.Subnet, delta []string) (*v1.Subnet, error) {
	id := latest.Status.SubnetID
	var fixed []string
	for _, p := range []string{"spec.availabilityZone", "spec.availabilityZoneID", "spec.cidrBlock", "spec.vpcID"} {
		if has(delta, p) {
			fixed = append(fixed, p)
		}
	}
	if len(fixed) > 0 {
		return nil, ackrt.Terminal("subnet %s cannot change %s", aws.ToString(id), strings.Join(fixed, ", "))
	}
	c := client(env)
	if has(delta, "spec.mapPublicIPOnLaunch") {
		if err := setMapPublicIP(ctx, c, id, aws.ToBool(desired.Spec.MapPublicIPOnLaunch)); err != nil {
			return nil, err
		}
	}
	if has(delta, "spec.tags") {
		if err := syncTags(ctx, c, aws.ToString(id), desired.Spec.Tags, latest.Spec.Tags); err != nil {
			return nil, err
		}
	}
	withID := desired.DeepCopy()
	withID.Status.SubnetID = id
	return m.ReadOne(ctx, env, withID)
}

// Delete implements runtime.Manager. A subnet still in use (network
// interfaces, e.g. of an RDS instance) gives DependencyViolation, retried.
func (SubnetManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.Subnet) (bool, error) {
	_, err := client(env).DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: latest.Status.SubnetID})
	return err == nil, err
}

// IsSynced implements runtime.Manager: synced once available.
func (SubnetManager) IsSynced(s *v1.Subnet) (bool, string, error) {
	if st := aws.ToString(s.Status.State); st != string(ec2types.SubnetStateAvailable) {
		return false, fmt.Sprintf("subnet is %s", st), nil
	}
	return true, "", nil
}

// LateInitialize implements runtime.Manager.
func (SubnetManager) LateInitialize(_, _ *v1.Subnet) bool { return false }
