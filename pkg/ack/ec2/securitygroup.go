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

// SecurityGroupManager implements runtime.Manager for SecurityGroup.
//
// The group is identified by status.id; before it has one, by its name in
// its VPC (names are unique there), so a crash between Create and the status
// write finds the group instead of creating a second, and a group that
// existed before the resource is reported as "Resource already exists"
// (or adopted with adopt-or-create). Rules are reconciled one by one:
// the missing are authorized, the extra revoked — AWS's default egress rule
// too, unless the spec lists it, as ACK does.
type SecurityGroupManager struct{}

var (
	_ ackrt.Manager[*v1.SecurityGroup]           = SecurityGroupManager{}
	_ ackrt.ReferenceResolver[*v1.SecurityGroup] = SecurityGroupManager{}
)

// Service implements runtime.Manager.
func (SecurityGroupManager) Service() string { return "ec2" }

// Kind implements runtime.Manager.
func (SecurityGroupManager) Kind() string { return "SecurityGroup" }

// New implements runtime.Manager.
func (SecurityGroupManager) New() *v1.SecurityGroup { return &v1.SecurityGroup{} }

// Classifier implements runtime.Manager: ACK's terminal codes plus the
// malformed-rule and duplicate-name codes no retry can fix.
func (SecurityGroupManager) Classifier() ackrt.Classifier {
	return ackrt.Classifier{
		NotFoundCodes: []string{"InvalidGroup.NotFound"},
		TerminalCodes: []string{
			"InvalidVpcID.Malformed", "InvalidVpcID.NotFound", "VPCIdNotSpecified",
			"InvalidGroup.Duplicate", "InvalidGroupId.Malformed", "InvalidPermission.Malformed",
			"InvalidParameterValue", "MissingParameter",
		},
	}
}

// AdoptionFields implements runtime.Manager: {"id": "sg-…"}.
func (SecurityGroupManager) AdoptionFields(g *v1.SecurityGroup, fields map[string]string) error {
	id, err := idField(fields, "id")
	if err != nil {
		return err
	}
	g.Status.ID = &id
	return nil
}

// Validate implements runtime.Manager.
func (SecurityGroupManager) Validate(g *v1.SecurityGroup) error {
	if aws.ToString(g.Spec.Name) == "" || aws.ToString(g.Spec.Description) == "" {
		return ackrt.Terminal("spec.name and spec.description are required")
	}
	return nil
}

// ARN implements runtime.Manager: EC2's SecurityGroupArn.
func (SecurityGroupManager) ARN(env ackrt.Env, g *v1.SecurityGroup) string {
	if g.Status.ID == nil {
		return ""
	}
	return fmt.Sprintf("arn:%s:ec2:%s:%s:security-group/%s", partition(env), env.Region, env.AccountID, *g.Status.ID)
}

func partition(env ackrt.Env) string {
	if env.Partition == "" {
		return "aws"
	}
	return env.Partition
}

var (
	vpcGVK = v1.GroupVersion.WithKind("VPC")
	sgGVK  = v1.GroupVersion.WithKind("SecurityGroup")
)

// ResolveReferences implements runtime.ReferenceResolver: vpcRef and the
// rules' groupRef and vpcRef.
func (SecurityGroupManager) ResolveReferences(ctx context.Context, refs *ackrt.Refs, g *v1.SecurityGroup) error {
	s := &g.Spec
	if err := ackrt.Exclusive("vpcID", s.VPCID != nil, "vpcRef", s.VPCRef != nil); err != nil {
		return err
	}
	if s.VPCRef != nil {
		id, err := refs.Resolve(ctx, "vpcRef", s.VPCRef, vpcGVK, "status", "vpcID")
		if err != nil {
			return err
		}
		s.VPCID = &id
	}
	for _, list := range []struct {
		name  string
		perms []*v1.IPPermission
	}{{"ingressRules", s.IngressRules}, {"egressRules", s.EgressRules}} {
		for i, p := range list.perms {
			if p == nil {
				continue
			}
			for j, pair := range p.UserIDGroupPairs {
				if pair == nil {
					continue
				}
				at := fmt.Sprintf("%s[%d].userIDGroupPairs[%d].", list.name, i, j)
				if err := ackrt.Exclusive(at+"groupID", pair.GroupID != nil, at+"groupRef", pair.GroupRef != nil); err != nil {
					return err
				}
				if err := ackrt.Exclusive(at+"vpcID", pair.VPCID != nil, at+"vpcRef", pair.VPCRef != nil); err != nil {
					return err
				}
				if pair.GroupRef != nil {
					id, err := refs.Resolve(ctx, at+"groupRef", pair.GroupRef, sgGVK, "status", "id")
					if err != nil {
						return err
					}
					pair.GroupID = &id
				}
				if pair.VPCRef != nil {
					id, err := refs.Resolve(ctx, at+"vpcRef", pair.VPCRef, vpcGVK, "status", "vpcID")
					if err != nil {
						return err
					}
					pair.VPCID = &id
				}
			}
		}
	}
	return nil
}

// ClearResolvedReferences implements runtime.ReferenceResolver.
func (SecurityGroupManager) ClearResolvedReferences(g *v1.SecurityGroup) {
	if g.Spec.VPCRef != nil {
		g.Spec.VPCID = nil
	}
	for _, perms := range [][]*v1.IPPermission{g.Spec.IngressRules, g.Spec.EgressRules} {
		for _, p := range perms {
			if p == nil {
				continue
			}
			for _, pair := range p.UserIDGroupPairs {
				if pair != nil && pair.GroupRef != nil {
					pair.GroupID = nil
				}
				if pair != nil && pair.VPCRef != nil {
					pair.VPCID = nil
				}
			}
		}
	}
}

// find returns the group: by status.id, else by name in the VPC (or, with
// no VPC given, by the owner tag).
func (SecurityGroupManager) find(ctx context.Context, c *ec2.Client, g *v1.SecurityGroup) (*ec2types.SecurityGroup, error) {
	in := &ec2.DescribeSecurityGroupsInput{}
	if id := aws.ToString(g.Status.ID); id != "" {
		in.GroupIds = []string{id}
	} else {
		in.Filters = []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{aws.ToString(g.Spec.Name)}}}
		if vpc := aws.ToString(g.Spec.VPCID); vpc != "" {
			in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String("vpc-id"), Values: []string{vpc}})
		} else {
			in.Filters = append(in.Filters, ownerFilter(g)...)
		}
	}
	out, err := c.DescribeSecurityGroups(ctx, in)
	if err != nil {
		return nil, err
	}
	switch len(out.SecurityGroups) {
	case 0:
		return nil, ackrt.ErrNotFound
	case 1:
		return &out.SecurityGroups[0], nil
	}
	return nil, ackrt.Terminal("%d security groups match name %q; set spec.vpcID", len(out.SecurityGroups), aws.ToString(g.Spec.Name))
}

// describeRules returns every rule of group id.
func describeRules(ctx context.Context, c *ec2.Client, id string) ([]ec2types.SecurityGroupRule, error) {
	in := &ec2.DescribeSecurityGroupRulesInput{Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: []string{id}}}}
	var out []ec2types.SecurityGroupRule
	for {
		page, err := c.DescribeSecurityGroupRules(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, page.SecurityGroupRules...)
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// ReadOne implements runtime.Manager: DescribeSecurityGroups and
// DescribeSecurityGroupRules (the rules are compared and reported from the
// latter, one rule each).
func (m SecurityGroupManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.SecurityGroup) (*v1.SecurityGroup, error) {
	c := client(env)
	sg, err := m.find(ctx, c, desired)
	if err != nil {
		return nil, err
	}
	rs, err := describeRules(ctx, c, aws.ToString(sg.GroupId))
	if err != nil {
		return nil, err
	}
	latest := desired.DeepCopy()
	latest.Spec.Name, latest.Spec.Description = sg.GroupName, sg.Description
	latest.Spec.VPCID = sg.VpcId
	latest.Spec.Tags = tagsFrom(sg.Tags)
	obs := observedRules(rs)
	latest.Spec.IngressRules, latest.Spec.EgressRules = permissions(obs, false), permissions(obs, true)
	latest.Status.ID = sg.GroupId
	latest.Status.Rules = statusRules(rs)
	return latest, nil
}

// desiredRules flattens the spec's ingress and egress rules.
func desiredRules(g *v1.SecurityGroup) []rule {
	return append(flatten(g.Spec.IngressRules, false), flatten(g.Spec.EgressRules, true)...)
}

// Delta implements runtime.Manager. Rules compare as whole sets: a spec
// without egressRules wants none (the default egress rule is revoked).
func (SecurityGroupManager) Delta(desired, latest *v1.SecurityGroup) []string {
	var d []string
	if strDiffers(desired.Spec.Name, latest.Spec.Name) {
		d = append(d, "spec.name")
	}
	if strDiffers(desired.Spec.Description, latest.Spec.Description) {
		d = append(d, "spec.description")
	}
	if strDiffers(desired.Spec.VPCID, latest.Spec.VPCID) {
		d = append(d, "spec.vpcID")
	}
	if rulesDiffer(flatten(desired.Spec.IngressRules, false), flatten(latest.Spec.IngressRules, false)) {
		d = append(d, "spec.ingressRules")
	}
	if rulesDiffer(flatten(desired.Spec.EgressRules, true), flatten(latest.Spec.EgressRules, true)) {
		d = append(d, "spec.egressRules")
	}
	if tagsDiffer(desired.Spec.Tags, latest.Spec.Tags) {
		d = append(d, "spec.tags")
	}
	return d
}

// syncRules revokes the group's rules the spec lacks, then authorizes the
// missing ones (revoking first frees a rule whose description changed).
func syncRules(ctx context.Context, c *ec2.Client, id string, desired []rule) error {
	rs, err := describeRules(ctx, c, id)
	if err != nil {
		return err
	}
	add, revoke := diffRules(desired, observedRules(rs))
	var revIn, revEg []string
	for _, r := range revoke {
		if r.egress {
			revEg = append(revEg, r.id)
		} else {
			revIn = append(revIn, r.id)
		}
	}
	if len(revIn) > 0 {
		if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &id, SecurityGroupRuleIds: revIn}); err != nil {
			return err
		}
	}
	if len(revEg) > 0 {
		if _, err := c.RevokeSecurityGroupEgress(ctx, &ec2.RevokeSecurityGroupEgressInput{GroupId: &id, SecurityGroupRuleIds: revEg}); err != nil {
			return err
		}
	}
	var addIn, addEg []ec2types.IpPermission
	for _, r := range add {
		if r.egress {
			addEg = append(addEg, r.ipPermission())
		} else {
			addIn = append(addIn, r.ipPermission())
		}
	}
	if len(addIn) > 0 {
		if _, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &id, IpPermissions: addIn}); err != nil {
			return err
		}
	}
	if len(addEg) > 0 {
		if _, err := c.AuthorizeSecurityGroupEgress(ctx, &ec2.AuthorizeSecurityGroupEgressInput{GroupId: &id, IpPermissions: addEg}); err != nil {
			return err
		}
	}
	return nil
}

// Create implements runtime.Manager: CreateSecurityGroup with the tags,
// then the rules (AWS's default egress rule is revoked unless wanted).
func (SecurityGroupManager) Create(ctx context.Context, env ackrt.Env, desired *v1.SecurityGroup) (*v1.SecurityGroup, error) {
	c := client(env)
	out, err := c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: desired.Spec.Name, Description: desired.Spec.Description, VpcId: desired.Spec.VPCID,
		TagSpecifications: tagSpecs(ec2types.ResourceTypeSecurityGroup, desired.Spec.Tags, desired),
	})
	if err != nil {
		return nil, err
	}
	id := aws.ToString(out.GroupId)
	if err := syncRules(ctx, c, id, desiredRules(desired)); err != nil {
		return nil, afterCreate("security group", id, err)
	}
	created := desired.DeepCopy()
	created.Status.ID = out.GroupId
	return created, nil
}

// Update implements runtime.Manager. Name, description and VPC cannot
// change in EC2: a change is terminal, never a second group.
func (m SecurityGroupManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.SecurityGroup, delta []string) (*v1.SecurityGroup, error) {
	id := aws.ToString(latest.Status.ID)
	var fixed []string
	for _, f := range []struct {
		path      string
		want, got *string
	}{{"spec.name", desired.Spec.Name, latest.Spec.Name}, {"spec.description", desired.Spec.Description, latest.Spec.Description}, {"spec.vpcID", desired.Spec.VPCID, latest.Spec.VPCID}} {
		if has(delta, f.path) {
			fixed = append(fixed, fmt.Sprintf("%s (%q, the group has %q)", f.path, aws.ToString(f.want), aws.ToString(f.got)))
		}
	}
	if len(fixed) > 0 {
		return nil, ackrt.Terminal("security group %s cannot change %s", id, strings.Join(fixed, ", "))
	}
	c := client(env)
	if has(delta, "spec.ingressRules") || has(delta, "spec.egressRules") {
		if err := syncRules(ctx, c, id, desiredRules(desired)); err != nil {
			return nil, err
		}
	}
	if has(delta, "spec.tags") {
		if err := syncTags(ctx, c, id, desired.Spec.Tags, latest.Spec.Tags); err != nil {
			return nil, err
		}
	}
	withID := desired.DeepCopy()
	withID.Status.ID = latest.Status.ID
	return m.ReadOne(ctx, env, withID)
}

// Delete implements runtime.Manager. A group still in use (e.g. by an RDS
// instance) gives DependencyViolation, which is retried.
func (SecurityGroupManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.SecurityGroup) (bool, error) {
	_, err := client(env).DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: latest.Status.ID})
	return err == nil, err
}

// IsSynced implements runtime.Manager: a group that exists is synced.
func (SecurityGroupManager) IsSynced(*v1.SecurityGroup) (bool, string, error) { return true, "", nil }

// LateInitialize implements runtime.Manager.
func (SecurityGroupManager) LateInitialize(_, _ *v1.SecurityGroup) bool { return false }
