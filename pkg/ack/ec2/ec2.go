// Package ec2 implements the ACK-compatible ec2.services.k8s.aws kinds VPC,
// Subnet and SecurityGroup.
//
// VPCs and subnets have no name: ACK identifies them by the id in their
// status once created. A crash between Create and the status write would
// leave an AWS resource that no status names (ACK has this leak), so trellis
// tags what it creates with OwnerTag (the CR's namespace/name/uid), and
// ReadOne looks a resource without an id up by that tag before the runtime
// decides to create it.
package ec2

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// OwnerTag is the tag key trellis puts on the EC2 resources it creates; the
// value is Owner of the custom resource. It is not part of spec.tags.
const OwnerTag = "trellis.dev/ack-owner"

// Owner is the OwnerTag value of obj: namespace/name/uid. The uid keeps a
// CR recreated under the same name from taking over a retained resource.
func Owner(obj metav1.Object) string {
	return obj.GetNamespace() + "/" + obj.GetName() + "/" + string(obj.GetUID())
}

func client(env ackrt.Env) *ec2.Client { return ec2.NewFromConfig(env.AWS) }

// ownerFilter selects the resources tagged for obj.
func ownerFilter(obj metav1.Object) []ec2types.Filter {
	return []ec2types.Filter{{Name: aws.String("tag:" + OwnerTag), Values: []string{Owner(obj)}}}
}

// tagSpecs is the TagSpecifications of a Create call: spec.tags plus the
// owner tag, so the resource is findable from the moment it exists.
func tagSpecs(rt ec2types.ResourceType, tags []*v1.Tag, obj metav1.Object) []ec2types.TagSpecification {
	ts := []ec2types.Tag{{Key: aws.String(OwnerTag), Value: aws.String(Owner(obj))}}
	for _, t := range tags {
		if t != nil && t.Key != nil {
			ts = append(ts, ec2types.Tag{Key: t.Key, Value: aws.String(aws.ToString(t.Value))})
		}
	}
	return []ec2types.TagSpecification{{ResourceType: rt, Tags: ts}}
}

// systemTag reports tags that are not the user's: the owner tag and AWS's own.
func systemTag(key string) bool { return key == OwnerTag || strings.HasPrefix(key, "aws:") }

// tagsFrom returns the user's tags, sorted by key.
func tagsFrom(ts []ec2types.Tag) []*v1.Tag {
	out := []*v1.Tag{}
	for _, t := range ts {
		if !systemTag(aws.ToString(t.Key)) {
			out = append(out, &v1.Tag{Key: t.Key, Value: t.Value})
		}
	}
	sort.Slice(out, func(i, j int) bool { return aws.ToString(out[i].Key) < aws.ToString(out[j].Key) })
	return out
}

func tagMap(tags []*v1.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		if t != nil && t.Key != nil {
			m[*t.Key] = aws.ToString(t.Value)
		}
	}
	return m
}

// tagsDiffer reports whether the spec's tags differ from the observed ones.
// A spec without tags leaves the resource's tags alone.
func tagsDiffer(desired, latest []*v1.Tag) bool {
	return desired != nil && !reflect.DeepEqual(tagMap(desired), tagMap(latest))
}

// syncTags makes the user's tags of resource id match desired; the owner
// tag is never touched.
func syncTags(ctx context.Context, c *ec2.Client, id string, desired, latest []*v1.Tag) error {
	want, have := tagMap(desired), tagMap(latest)
	var del, add []ec2types.Tag
	for k := range have {
		if _, ok := want[k]; !ok && !systemTag(k) {
			del = append(del, ec2types.Tag{Key: aws.String(k)})
		}
	}
	for k, v := range want {
		if old, ok := have[k]; !ok || old != v {
			add = append(add, ec2types.Tag{Key: aws.String(k), Value: aws.String(v)})
		}
	}
	if len(del) > 0 {
		if _, err := c.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: del}); err != nil {
			return err
		}
	}
	if len(add) > 0 {
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: add}); err != nil {
			return err
		}
	}
	return nil
}

// afterCreate reports a failed step after the resource was created. The
// error carries no AWS error code on purpose: the runtime then keeps the
// finalizer (the resource exists and is ours), and the next loop finds it
// by its owner tag and finishes the job as an update.
func afterCreate(what, id string, err error) error {
	return fmt.Errorf("%s %s created, but %s", what, id, ackrt.AWSErrorMessage(err))
}

func has(delta []string, path string) bool {
	for _, d := range delta {
		if d == path {
			return true
		}
	}
	return false
}

func boolDiffers(desired, latest *bool) bool {
	return desired != nil && aws.ToBool(desired) != aws.ToBool(latest)
}

func strDiffers(desired, latest *string) bool {
	return desired != nil && aws.ToString(desired) != aws.ToString(latest)
}

func int64p(v *int32) *int64 {
	if v == nil {
		return nil
	}
	n := int64(*v)
	return &n
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// idField returns the id from adoption-fields: ACK's key for the kind
// (e.g. vpcID), or "id".
func idField(fields map[string]string, key string) (string, error) {
	if v := fields[key]; v != "" {
		return v, nil
	}
	if v := fields["id"]; v != "" {
		return v, nil
	}
	return "", fmt.Errorf("%q is required", key)
}
