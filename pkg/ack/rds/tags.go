// Package rds implements the ACK-compatible rds.services.k8s.aws kinds
// DBSubnetGroup and DBInstance.
package rds

import (
	"context"
	"reflect"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func client(env ackrt.Env) *rds.Client { return rds.NewFromConfig(env.AWS) }

func tagMap(tags []*v1.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		if t != nil {
			m[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return m
}

func tagsTo(tags []*v1.Tag) []rdstypes.Tag {
	var out []rdstypes.Tag
	for _, t := range tags {
		if t != nil {
			out = append(out, rdstypes.Tag{Key: t.Key, Value: t.Value})
		}
	}
	return out
}

func tagsFrom(tags []rdstypes.Tag) []*v1.Tag {
	out := []*v1.Tag{}
	for _, t := range tags {
		out = append(out, &v1.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

// tagsDiffer reports a managed (non-nil) tag list that differs from AWS's.
func tagsDiffer(desired, latest []*v1.Tag) bool {
	return desired != nil && !reflect.DeepEqual(tagMap(desired), tagMap(latest))
}

// syncTags makes the tags of arn equal to desired: removes the keys it
// lacks, then adds or overwrites the rest.
func syncTags(ctx context.Context, c *rds.Client, arn string, desired, latest []*v1.Tag) error {
	want, have := tagMap(desired), tagMap(latest)
	var remove []string
	for k := range have {
		if _, ok := want[k]; !ok {
			remove = append(remove, k)
		}
	}
	sort.Strings(remove)
	if len(remove) > 0 {
		if _, err := c.RemoveTagsFromResource(ctx, &rds.RemoveTagsFromResourceInput{ResourceName: &arn, TagKeys: remove}); err != nil {
			return err
		}
	}
	var add []rdstypes.Tag
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			add = append(add, rdstypes.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
	}
	sort.Slice(add, func(i, j int) bool { return *add[i].Key < *add[j].Key })
	if len(add) > 0 {
		if _, err := c.AddTagsToResource(ctx, &rds.AddTagsToResourceInput{ResourceName: &arn, Tags: add}); err != nil {
			return err
		}
	}
	return nil
}

// sameSet compares two string lists as sets.
func sameSet(a, b []*string) bool {
	x, y := strs(a), strs(b)
	sort.Strings(x)
	sort.Strings(y)
	return reflect.DeepEqual(x, y)
}

func strs(p []*string) []string {
	out := []string{}
	for _, s := range p {
		if s != nil {
			out = append(out, *s)
		}
	}
	return out
}

func ptrs(s []string) []*string {
	var out []*string
	for _, v := range s {
		out = append(out, aws.String(v))
	}
	return out
}

func subnetsFrom(l []rdstypes.Subnet) []*v1.Subnet {
	var out []*v1.Subnet
	for _, s := range l {
		e := &v1.Subnet{SubnetIdentifier: s.SubnetIdentifier, SubnetStatus: s.SubnetStatus}
		if s.SubnetAvailabilityZone != nil {
			e.SubnetAvailabilityZone = &v1.AvailabilityZone{Name: s.SubnetAvailabilityZone.Name}
		}
		if s.SubnetOutpost != nil {
			e.SubnetOutpost = &v1.Outpost{ARN: s.SubnetOutpost.Arn}
		}
		out = append(out, e)
	}
	return out
}

func has(delta []string, path string) bool {
	for _, p := range delta {
		if p == path {
			return true
		}
	}
	return false
}

// sameResource refuses to act on an AWS resource other than the one the
// custom resource manages (its status ARN), e.g. after the identifier was
// edited to name some other, unmanaged resource: without this, a delete
// would remove that one (ACK community#2102).
func sameResource(md *ackv1alpha1.ResourceMetadata, found *string, field string) error {
	if md == nil || md.ARN == nil || found == nil || strings.EqualFold(string(*md.ARN), *found) {
		return nil
	}
	return ackrt.Terminal("spec.%s is immutable: this resource manages %s, not %s", field, *md.ARN, *found)
}
