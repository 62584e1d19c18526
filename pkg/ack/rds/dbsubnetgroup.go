package rds

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	"k8s.io/apimachinery/pkg/runtime/schema"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// SubnetGVK is the ec2 Subnet kind that subnetRefs name; the ID is read
// from its status.subnetID.
var SubnetGVK = schema.GroupVersionKind{Group: "ec2.services.k8s.aws", Version: "v1alpha1", Kind: "Subnet"}

// DBSubnetGroupManager implements runtime.Manager for DBSubnetGroup.
//
// ReadOne calls DescribeDBSubnetGroups, plus ListTagsForResource only when
// the spec manages tags.
type DBSubnetGroupManager struct{}

var (
	_ ackrt.Manager[*v1.DBSubnetGroup]           = DBSubnetGroupManager{}
	_ ackrt.ReferenceResolver[*v1.DBSubnetGroup] = DBSubnetGroupManager{}
	_ ackrt.AdoptionReader[*v1.DBSubnetGroup]    = DBSubnetGroupManager{}
)

// Service implements runtime.Manager.
func (DBSubnetGroupManager) Service() string { return "rds" }

// Kind implements runtime.Manager.
func (DBSubnetGroupManager) Kind() string { return "DBSubnetGroup" }

// New implements runtime.Manager.
func (DBSubnetGroupManager) New() *v1.DBSubnetGroup { return &v1.DBSubnetGroup{} }

// Classifier implements runtime.Manager, with ACK's codes.
func (DBSubnetGroupManager) Classifier() ackrt.Classifier {
	return ackrt.Classifier{
		NotFoundCodes: []string{"DBSubnetGroupNotFoundFault"},
		TerminalCodes: []string{"DBSubnetGroupDoesNotCoverEnoughAZs", "InvalidSubnet", "InvalidParameter", "SubnetAlreadyInUse"},
	}
}

// AdoptionFields implements runtime.Manager: {"name": "..."}.
func (DBSubnetGroupManager) AdoptionFields(g *v1.DBSubnetGroup, fields map[string]string) error {
	name := fields["name"]
	if name == "" {
		return errors.New(`"name" is required`)
	}
	g.Spec.Name = &name
	return nil
}

// Validate implements runtime.Manager. spec.name identifies the group and
// cannot change once it exists (a new name would orphan the old group).
func (DBSubnetGroupManager) Validate(g *v1.DBSubnetGroup) error {
	name := aws.ToString(g.Spec.Name)
	if name == "" {
		return ackrt.Terminal("spec.name is required")
	}
	if md := g.Status.ACKResourceMetadata; md != nil && md.ARN != nil {
		if a := string(*md.ARN); !strings.HasSuffix(strings.ToLower(a), ":subgrp:"+strings.ToLower(name)) {
			return ackrt.Terminal("spec.name is immutable: this resource manages %s", a)
		}
	}
	return nil
}

// ARN implements runtime.Manager: DBSubnetGroupArn as described.
func (DBSubnetGroupManager) ARN(_ ackrt.Env, g *v1.DBSubnetGroup) string {
	if md := g.Status.ACKResourceMetadata; md != nil && md.ARN != nil {
		return string(*md.ARN)
	}
	return ""
}

// ResolveReferences implements runtime.ReferenceResolver: subnetRefs to
// the Subnets' status.subnetID.
func (DBSubnetGroupManager) ResolveReferences(ctx context.Context, refs *ackrt.Refs, g *v1.DBSubnetGroup) error {
	if len(g.Spec.SubnetRefs) == 0 {
		return nil
	}
	if err := ackrt.Exclusive("subnetIDs", len(g.Spec.SubnetIDs) > 0, "subnetRefs", true); err != nil {
		return err
	}
	ids, err := refs.ResolveAll(ctx, "subnetRefs", g.Spec.SubnetRefs, SubnetGVK, "status", "subnetID")
	if err != nil {
		return err
	}
	g.Spec.SubnetIDs = ptrs(ids)
	return nil
}

// ClearResolvedReferences implements runtime.ReferenceResolver.
func (DBSubnetGroupManager) ClearResolvedReferences(g *v1.DBSubnetGroup) {
	if len(g.Spec.SubnetRefs) > 0 {
		g.Spec.SubnetIDs = nil
	}
}

// ReadOne implements runtime.Manager.
func (DBSubnetGroupManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.DBSubnetGroup) (*v1.DBSubnetGroup, error) {
	c := client(env)
	out, err := c.DescribeDBSubnetGroups(ctx, &rds.DescribeDBSubnetGroupsInput{DBSubnetGroupName: desired.Spec.Name})
	if err != nil {
		return nil, err
	}
	if len(out.DBSubnetGroups) == 0 {
		return nil, ackrt.ErrNotFound
	}
	d := out.DBSubnetGroups[0]
	if err := sameResource(desired.Status.ACKResourceMetadata, d.DBSubnetGroupArn, "name"); err != nil {
		return nil, err
	}
	latest := desired.DeepCopy()
	latest.Spec = v1.DBSubnetGroupSpec{
		Name:        desired.Spec.Name,
		Description: d.DBSubnetGroupDescription,
		SubnetRefs:  desired.Spec.SubnetRefs,
	}
	for _, s := range d.Subnets {
		latest.Spec.SubnetIDs = append(latest.Spec.SubnetIDs, s.SubnetIdentifier)
	}
	if desired.Spec.Tags != nil && d.DBSubnetGroupArn != nil {
		tags, err := c.ListTagsForResource(ctx, &rds.ListTagsForResourceInput{ResourceName: d.DBSubnetGroupArn})
		if err != nil {
			// The group exists: a NotFound here must not trigger a create.
			return nil, fmt.Errorf("listing tags of %s: %s", *d.DBSubnetGroupArn, ackrt.AWSErrorMessage(err))
		}
		latest.Spec.Tags = tagsFrom(tags.TagList)
	}
	st := &latest.Status
	st.SubnetGroupStatus = d.SubnetGroupStatus
	st.Subnets = subnetsFrom(d.Subnets)
	st.SupportedNetworkTypes = ptrs(d.SupportedNetworkTypes)
	st.VPCID = d.VpcId
	if d.DBSubnetGroupArn != nil {
		a := ackv1alpha1.ARN(*d.DBSubnetGroupArn)
		if st.ACKResourceMetadata == nil {
			st.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{}
		}
		st.ACKResourceMetadata.ARN = &a
	}
	return latest, nil
}

// ReadForAdoption implements runtime.AdoptionReader: the tags too.
func (m DBSubnetGroupManager) ReadForAdoption(ctx context.Context, env ackrt.Env, desired *v1.DBSubnetGroup) (*v1.DBSubnetGroup, error) {
	all := desired.DeepCopy()
	all.Spec.Tags = []*v1.Tag{}
	latest, err := m.ReadOne(ctx, env, all)
	if err != nil {
		return nil, err
	}
	if len(latest.Spec.Tags) == 0 {
		latest.Spec.Tags = nil
	}
	return latest, nil
}

// Create implements runtime.Manager.
func (DBSubnetGroupManager) Create(ctx context.Context, env ackrt.Env, desired *v1.DBSubnetGroup) (*v1.DBSubnetGroup, error) {
	s := desired.Spec
	out, err := client(env).CreateDBSubnetGroup(ctx, &rds.CreateDBSubnetGroupInput{
		DBSubnetGroupName:        s.Name,
		DBSubnetGroupDescription: s.Description,
		SubnetIds:                strs(s.SubnetIDs),
		Tags:                     tagsTo(s.Tags),
	})
	if err != nil {
		return nil, err
	}
	created := desired.DeepCopy()
	if d := out.DBSubnetGroup; d != nil {
		created.Status.SubnetGroupStatus = d.SubnetGroupStatus
		created.Status.VPCID = d.VpcId
		created.Status.Subnets = subnetsFrom(d.Subnets)
		if d.DBSubnetGroupArn != nil {
			a := ackv1alpha1.ARN(*d.DBSubnetGroupArn)
			created.Status.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{ARN: &a}
		}
	}
	return created, nil
}

// Delta implements runtime.Manager.
func (DBSubnetGroupManager) Delta(desired, latest *v1.DBSubnetGroup) []string {
	var d []string
	ds, ls := desired.Spec, latest.Spec
	if ds.Description != nil && *ds.Description != aws.ToString(ls.Description) {
		d = append(d, "spec.description")
	}
	if ds.SubnetIDs != nil && !sameSet(ds.SubnetIDs, ls.SubnetIDs) {
		d = append(d, "spec.subnetIDs")
	}
	if tagsDiffer(ds.Tags, ls.Tags) {
		d = append(d, "spec.tags")
	}
	return d
}

// Update implements runtime.Manager. ModifyDBSubnetGroup always takes the
// whole subnet list, so the observed one is sent when the spec leaves it out.
func (m DBSubnetGroupManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.DBSubnetGroup, delta []string) (*v1.DBSubnetGroup, error) {
	c := client(env)
	if has(delta, "spec.description") || has(delta, "spec.subnetIDs") {
		ids := desired.Spec.SubnetIDs
		if ids == nil {
			ids = latest.Spec.SubnetIDs
		}
		if _, err := c.ModifyDBSubnetGroup(ctx, &rds.ModifyDBSubnetGroupInput{
			DBSubnetGroupName:        desired.Spec.Name,
			DBSubnetGroupDescription: desired.Spec.Description,
			SubnetIds:                strs(ids),
		}); err != nil {
			return nil, err
		}
	}
	if has(delta, "spec.tags") {
		if err := syncTags(ctx, c, m.ARN(env, latest), desired.Spec.Tags, latest.Spec.Tags); err != nil {
			return nil, err
		}
	}
	return m.ReadOne(ctx, env, desired)
}

// Delete implements runtime.Manager. A group still used by a DB instance
// fails with InvalidDBSubnetGroupStateFault and is retried.
func (DBSubnetGroupManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.DBSubnetGroup) (bool, error) {
	_, err := client(env).DeleteDBSubnetGroup(ctx, &rds.DeleteDBSubnetGroupInput{DBSubnetGroupName: latest.Spec.Name})
	return err == nil, err
}

// IsSynced implements runtime.Manager: a group is usable once RDS says
// Complete.
func (DBSubnetGroupManager) IsSynced(g *v1.DBSubnetGroup) (bool, string, error) {
	if s := aws.ToString(g.Status.SubnetGroupStatus); s != "" && s != "Complete" {
		return false, "subnet group is " + s, nil
	}
	return true, "", nil
}

// LateInitialize implements runtime.Manager: nothing defaults server-side.
func (DBSubnetGroupManager) LateInitialize(_, _ *v1.DBSubnetGroup) bool { return false }
