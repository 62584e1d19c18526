package ec2

import (
	"context"
	"fmt"
	"reflect"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	v1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// VPCManager implements runtime.Manager for VPC. The VPC is identified by
// status.vpcID, and before it has one by the owner tag (see the package
// comment).
type VPCManager struct{}

var _ ackrt.Manager[*v1.VPC] = VPCManager{}

// Service implements runtime.Manager.
func (VPCManager) Service() string { return "ec2" }

// Kind implements runtime.Manager.
func (VPCManager) Kind() string { return "VPC" }

// New implements runtime.Manager.
func (VPCManager) New() *v1.VPC { return &v1.VPC{} }

// Classifier implements runtime.Manager. A DependencyViolation on delete
// (subnets or groups still in the VPC) is retried.
func (VPCManager) Classifier() ackrt.Classifier {
	return ackrt.Classifier{
		NotFoundCodes: []string{"InvalidVpcID.NotFound"},
		TerminalCodes: []string{"InvalidVpcRange", "InvalidVpcID.Malformed", "InvalidParameterValue", "InvalidParameterCombination"},
	}
}

// AdoptionFields implements runtime.Manager: {"vpcID": "vpc-…"} as ACK
// names it, or {"id": "vpc-…"}.
func (VPCManager) AdoptionFields(v *v1.VPC, fields map[string]string) error {
	id, err := idField(fields, "vpcID")
	if err != nil {
		return err
	}
	v.Status.VPCID = &id
	return nil
}

// Validate implements runtime.Manager.
func (VPCManager) Validate(v *v1.VPC) error {
	if len(v.Spec.CIDRBlocks) == 0 || aws.ToString(v.Spec.CIDRBlocks[0]) == "" {
		return ackrt.Terminal("spec.cidrBlocks is required")
	}
	return nil
}

// ARN implements runtime.Manager. EC2 returns no ARN for a VPC; it is
// computed in EC2's format.
func (VPCManager) ARN(env ackrt.Env, v *v1.VPC) string {
	if v.Status.VPCID == nil {
		return ""
	}
	return fmt.Sprintf("arn:%s:ec2:%s:%s:vpc/%s", partition(env), env.Region, env.AccountID, *v.Status.VPCID)
}

func (VPCManager) find(ctx context.Context, c *ec2.Client, v *v1.VPC) (*ec2types.Vpc, error) {
	in := &ec2.DescribeVpcsInput{}
	if id := aws.ToString(v.Status.VPCID); id != "" {
		in.VpcIds = []string{id}
	} else {
		in.Filters = ownerFilter(v)
	}
	out, err := c.DescribeVpcs(ctx, in)
	if err != nil {
		return nil, err
	}
	if len(out.Vpcs) == 0 {
		return nil, ackrt.ErrNotFound
	}
	return &out.Vpcs[0], nil
}

// ReadOne implements runtime.Manager: DescribeVpcs, plus DescribeVpcAttribute
// for the DNS settings the spec sets.
func (m VPCManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.VPC) (*v1.VPC, error) {
	c := client(env)
	vpc, err := m.find(ctx, c, desired)
	if err != nil {
		return nil, err
	}
	latest := desired.DeepCopy()
	s, st := &latest.Spec, &latest.Status
	// The primary block first, then the other associated ones.
	s.CIDRBlocks = []*string{vpc.CidrBlock}
	st.CIDRBlockAssociationSet = nil
	for _, a := range vpc.CidrBlockAssociationSet {
		state := ""
		if a.CidrBlockState != nil {
			state = string(a.CidrBlockState.State)
			st.CIDRBlockAssociationSet = append(st.CIDRBlockAssociationSet, &v1.VPCCIDRBlockAssociation{
				AssociationID: a.AssociationId, CIDRBlock: a.CidrBlock,
				CIDRBlockState: &v1.CIDRBlockState{State: strp(state), StatusMessage: a.CidrBlockState.StatusMessage},
			})
		}
		if (state == "associated" || state == "associating") && aws.ToString(a.CidrBlock) != aws.ToString(vpc.CidrBlock) {
			s.CIDRBlocks = append(s.CIDRBlocks, a.CidrBlock)
		}
	}
	s.InstanceTenancy = strp(string(vpc.InstanceTenancy))
	s.Tags = tagsFrom(vpc.Tags)
	if desired.Spec.EnableDNSSupport != nil {
		if s.EnableDNSSupport, err = vpcAttribute(ctx, c, vpc.VpcId, ec2types.VpcAttributeNameEnableDnsSupport); err != nil {
			return nil, err
		}
	}
	if desired.Spec.EnableDNSHostnames != nil {
		if s.EnableDNSHostnames, err = vpcAttribute(ctx, c, vpc.VpcId, ec2types.VpcAttributeNameEnableDnsHostnames); err != nil {
			return nil, err
		}
	}
	st.IPv6CIDRBlockAssociationSet = nil
	for _, a := range vpc.Ipv6CidrBlockAssociationSet {
		b := &v1.VPCIPv6CIDRBlockAssociation{AssociationID: a.AssociationId, IPv6CIDRBlock: a.Ipv6CidrBlock,
			IPv6Pool: a.Ipv6Pool, NetworkBorderGroup: a.NetworkBorderGroup}
		if a.Ipv6CidrBlockState != nil {
			b.IPv6CIDRBlockState = &v1.CIDRBlockState{State: strp(string(a.Ipv6CidrBlockState.State)), StatusMessage: a.Ipv6CidrBlockState.StatusMessage}
		}
		st.IPv6CIDRBlockAssociationSet = append(st.IPv6CIDRBlockAssociationSet, b)
	}
	st.DHCPOptionsID, st.IsDefault, st.OwnerID = vpc.DhcpOptionsId, vpc.IsDefault, vpc.OwnerId
	st.State, st.VPCID = strp(string(vpc.State)), vpc.VpcId
	return latest, nil
}

func vpcAttribute(ctx context.Context, c *ec2.Client, id *string, name ec2types.VpcAttributeName) (*bool, error) {
	out, err := c.DescribeVpcAttribute(ctx, &ec2.DescribeVpcAttributeInput{VpcId: id, Attribute: name})
	if err != nil {
		return nil, err
	}
	v := out.EnableDnsSupport
	if name == ec2types.VpcAttributeNameEnableDnsHostnames {
		v = out.EnableDnsHostnames
	}
	if v == nil {
		return aws.Bool(false), nil
	}
	return aws.Bool(aws.ToBool(v.Value)), nil
}

// ReadForAdoption implements runtime.AdoptionReader: the DNS settings too.
func (m VPCManager) ReadForAdoption(ctx context.Context, env ackrt.Env, desired *v1.VPC) (*v1.VPC, error) {
	all := desired.DeepCopy()
	all.Spec.EnableDNSSupport, all.Spec.EnableDNSHostnames = aws.Bool(true), aws.Bool(true)
	return m.ReadOne(ctx, env, all)
}

func cidrSet(l []*string) []string {
	var out []string
	for _, c := range l {
		if c != nil && *c != "" {
			out = append(out, *c)
		}
	}
	sort.Strings(out)
	return out
}

// Delta implements runtime.Manager. CIDR blocks compare as a set.
func (VPCManager) Delta(desired, latest *v1.VPC) []string {
	var d []string
	if !reflect.DeepEqual(cidrSet(desired.Spec.CIDRBlocks), cidrSet(latest.Spec.CIDRBlocks)) {
		d = append(d, "spec.cidrBlocks")
	}
	if boolDiffers(desired.Spec.EnableDNSSupport, latest.Spec.EnableDNSSupport) {
		d = append(d, "spec.enableDNSSupport")
	}
	if boolDiffers(desired.Spec.EnableDNSHostnames, latest.Spec.EnableDNSHostnames) {
		d = append(d, "spec.enableDNSHostnames")
	}
	if strDiffers(desired.Spec.InstanceTenancy, latest.Spec.InstanceTenancy) {
		d = append(d, "spec.instanceTenancy")
	}
	if tagsDiffer(desired.Spec.Tags, latest.Spec.Tags) {
		d = append(d, "spec.tags")
	}
	return d
}

// Create implements runtime.Manager: CreateVpc with the first block and
// the tags, then the other blocks and the DNS settings.
func (m VPCManager) Create(ctx context.Context, env ackrt.Env, desired *v1.VPC) (*v1.VPC, error) {
	c := client(env)
	in := &ec2.CreateVpcInput{
		CidrBlock:         desired.Spec.CIDRBlocks[0],
		TagSpecifications: tagSpecs(ec2types.ResourceTypeVpc, desired.Spec.Tags, desired),
	}
	if t := aws.ToString(desired.Spec.InstanceTenancy); t != "" {
		in.InstanceTenancy = ec2types.Tenancy(t)
	}
	out, err := c.CreateVpc(ctx, in)
	if err != nil {
		return nil, err
	}
	created := desired.DeepCopy()
	created.Status.VPCID = out.Vpc.VpcId
	created.Status.State = strp(string(out.Vpc.State))
	// What CreateVpc cannot set is applied as an update from the new VPC.
	fresh := desired.DeepCopy()
	fresh.Spec = v1.VPCSpec{CIDRBlocks: []*string{out.Vpc.CidrBlock}, Tags: desired.Spec.Tags, InstanceTenancy: desired.Spec.InstanceTenancy}
	fresh.Status.VPCID = out.Vpc.VpcId
	if desired.Spec.EnableDNSSupport != nil {
		fresh.Spec.EnableDNSSupport = aws.Bool(true) // EC2's default
	}
	if desired.Spec.EnableDNSHostnames != nil {
		fresh.Spec.EnableDNSHostnames = aws.Bool(false)
	}
	if delta := m.Delta(desired, fresh); len(delta) > 0 {
		if err := m.apply(ctx, c, desired, fresh, delta); err != nil {
			return nil, afterCreate("VPC", aws.ToString(out.Vpc.VpcId), err)
		}
	}
	return created, nil
}

// Update implements runtime.Manager.
func (m VPCManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.VPC, delta []string) (*v1.VPC, error) {
	if err := m.apply(ctx, client(env), desired, latest, delta); err != nil {
		return nil, err
	}
	withID := desired.DeepCopy()
	withID.Status.VPCID = latest.Status.VPCID
	return m.ReadOne(ctx, env, withID)
}

func (VPCManager) apply(ctx context.Context, c *ec2.Client, desired, latest *v1.VPC, delta []string) error {
	id := latest.Status.VPCID
	if has(delta, "spec.instanceTenancy") {
		// EC2 can only move a VPC's tenancy to default.
		if t := aws.ToString(desired.Spec.InstanceTenancy); t != string(ec2types.TenancyDefault) {
			return ackrt.Terminal("spec.instanceTenancy: VPC %s has tenancy %q and can only change to %q, not %q",
				aws.ToString(id), aws.ToString(latest.Spec.InstanceTenancy), ec2types.TenancyDefault, t)
		}
		if _, err := c.ModifyVpcTenancy(ctx, &ec2.ModifyVpcTenancyInput{VpcId: id, InstanceTenancy: ec2types.VpcTenancyDefault}); err != nil {
			return err
		}
	}
	if has(delta, "spec.cidrBlocks") {
		if err := syncCIDRBlocks(ctx, c, desired, latest); err != nil {
			return err
		}
	}
	if has(delta, "spec.enableDNSSupport") {
		if _, err := c.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: id,
			EnableDnsSupport: &ec2types.AttributeBooleanValue{Value: desired.Spec.EnableDNSSupport}}); err != nil {
			return err
		}
	}
	if has(delta, "spec.enableDNSHostnames") {
		if _, err := c.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: id,
			EnableDnsHostnames: &ec2types.AttributeBooleanValue{Value: desired.Spec.EnableDNSHostnames}}); err != nil {
			return err
		}
	}
	if has(delta, "spec.tags") {
		return syncTags(ctx, c, aws.ToString(id), desired.Spec.Tags, latest.Spec.Tags)
	}
	return nil
}

// syncCIDRBlocks disassociates the blocks the spec dropped and associates
// the new ones. The primary block cannot be removed.
func syncCIDRBlocks(ctx context.Context, c *ec2.Client, desired, latest *v1.VPC) error {
	want := map[string]bool{}
	for _, b := range cidrSet(desired.Spec.CIDRBlocks) {
		want[b] = true
	}
	have := map[string]bool{}
	for i, b := range latest.Spec.CIDRBlocks {
		cidr := aws.ToString(b)
		have[cidr] = true
		if want[cidr] {
			continue
		}
		if i == 0 {
			return ackrt.Terminal("spec.cidrBlocks: %s is the primary block of VPC %s and cannot be removed", cidr, aws.ToString(latest.Status.VPCID))
		}
		for _, a := range latest.Status.CIDRBlockAssociationSet {
			if aws.ToString(a.CIDRBlock) == cidr {
				if _, err := c.DisassociateVpcCidrBlock(ctx, &ec2.DisassociateVpcCidrBlockInput{AssociationId: a.AssociationID}); err != nil {
					return err
				}
			}
		}
	}
	for _, b := range cidrSet(desired.Spec.CIDRBlocks) {
		if !have[b] {
			if _, err := c.AssociateVpcCidrBlock(ctx, &ec2.AssociateVpcCidrBlockInput{VpcId: latest.Status.VPCID, CidrBlock: aws.String(b)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements runtime.Manager.
func (VPCManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.VPC) (bool, error) {
	_, err := client(env).DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: latest.Status.VPCID})
	return err == nil, err
}

// IsSynced implements runtime.Manager: synced once available.
func (VPCManager) IsSynced(v *v1.VPC) (bool, string, error) {
	if s := aws.ToString(v.Status.State); s != string(ec2types.VpcStateAvailable) {
		return false, fmt.Sprintf("VPC is %s", s), nil
	}
	return true, "", nil
}

// LateInitialize implements runtime.Manager.
func (VPCManager) LateInitialize(_, _ *v1.VPC) bool { return false }
