// Package s3 implements the ACK-compatible s3.services.k8s.aws Bucket.
//
// ReadOne calls HeadBucket and then only the configuration reads that the
// spec manages (tagging, versioning, policy), not the full set of bucket
// sub-resources: the spec is the list of what trellis owns on the bucket.
package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	s3v1alpha1 "github.com/trellis-dev/trellis/api/ack/s3/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// BucketManager implements runtime.Manager for Bucket.
type BucketManager struct{}

var _ ackrt.Manager[*s3v1alpha1.Bucket] = BucketManager{}

// Service implements runtime.Manager.
func (BucketManager) Service() string { return "s3" }

// Kind implements runtime.Manager.
func (BucketManager) Kind() string { return "Bucket" }

// New implements runtime.Manager.
func (BucketManager) New() *s3v1alpha1.Bucket { return &s3v1alpha1.Bucket{} }

// Classifier implements runtime.Manager. InvalidBucketName and
// BucketAlreadyExists (someone else's bucket) are terminal besides ACK's list.
func (BucketManager) Classifier() ackrt.Classifier {
	return ackrt.Classifier{
		NotFoundCodes: []string{"NoSuchBucket", "NotFound"},
		TerminalCodes: []string{
			"PermanentRedirect", "InvalidLocationConstraint", "MalformedXML", "IllegalLocationConstraintException",
			"InvalidNamespaceHeader", "MissingNamespaceHeader",
			"InvalidBucketName", "BucketAlreadyExists", "MalformedPolicy", "InvalidTag", "InvalidArgument",
		},
	}
}

func client(env ackrt.Env) *s3.Client {
	return s3.NewFromConfig(env.AWS, func(o *s3.Options) {
		o.UsePathStyle = env.Config.S3UsePathStyle
	})
}

// AdoptionFields implements runtime.Manager: {"name": "..."}.
func (BucketManager) AdoptionFields(b *s3v1alpha1.Bucket, fields map[string]string) error {
	name := fields["name"]
	if name == "" {
		return errors.New(`"name" is required`)
	}
	b.Spec.Name = &name
	return nil
}

// Validate implements runtime.Manager.
func (BucketManager) Validate(b *s3v1alpha1.Bucket) error {
	if aws.ToString(b.Spec.Name) == "" {
		return ackrt.Terminal("spec.name is required")
	}
	if _, err := desiredTags(b); err != nil {
		return ackrt.Terminal("%v", err)
	}
	return nil
}

// ARN implements runtime.Manager: arn:<partition>:s3:::<name>.
func (BucketManager) ARN(env ackrt.Env, b *s3v1alpha1.Bucket) string {
	p := env.Partition
	if p == "" {
		p = "aws"
	}
	return fmt.Sprintf("arn:%s:s3:::%s", p, aws.ToString(b.Spec.Name))
}

// ReadOne implements runtime.Manager.
func (m BucketManager) ReadOne(ctx context.Context, env ackrt.Env, desired *s3v1alpha1.Bucket) (*s3v1alpha1.Bucket, error) {
	c := client(env)
	name := desired.Spec.Name
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: name}); err != nil {
		if ackrt.AWSErrorCode(err) == "NotFound" || ackrt.AWSErrorCode(err) == "" {
			return nil, err
		}
		// HEAD responses carry no error body (e.g. a bare 400 BadRequest
		// for an invalid name); GetBucketLocation says what is wrong.
		if _, lerr := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: name}); lerr != nil {
			return nil, lerr
		}
	}
	latest := desired.DeepCopy()
	latest.Spec = s3v1alpha1.BucketSpec{Name: name, CreateBucketConfiguration: desired.Spec.CreateBucketConfiguration}
	if managesTags(desired) {
		out, err := c.GetBucketTagging(ctx, &s3.GetBucketTaggingInput{Bucket: name})
		switch {
		case err == nil:
			latest.Spec.Tagging = &s3v1alpha1.Tagging{}
			for _, t := range out.TagSet {
				latest.Spec.Tagging.TagSet = append(latest.Spec.Tagging.TagSet, &s3v1alpha1.Tag{Key: t.Key, Value: t.Value})
			}
		case ackrt.AWSErrorCode(err) == "NoSuchTagSet":
			latest.Spec.Tagging = &s3v1alpha1.Tagging{}
		default:
			return nil, err
		}
	}
	if desired.Spec.Versioning != nil {
		out, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: name})
		if err != nil {
			return nil, err
		}
		latest.Spec.Versioning = &s3v1alpha1.VersioningConfiguration{}
		if out.Status != "" {
			latest.Spec.Versioning.Status = aws.String(string(out.Status))
		}
	}
	if desired.Spec.Policy != nil {
		out, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: name})
		switch {
		case err == nil:
			latest.Spec.Policy = out.Policy
		case ackrt.AWSErrorCode(err) == "NoSuchBucketPolicy":
			latest.Spec.Policy = aws.String("")
		default:
			return nil, err
		}
	}
	return latest, nil
}

// Create implements runtime.Manager.
func (m BucketManager) Create(ctx context.Context, env ackrt.Env, desired *s3v1alpha1.Bucket) (*s3v1alpha1.Bucket, error) {
	c := client(env)
	in := &s3.CreateBucketInput{Bucket: desired.Spec.Name}
	lc := ""
	if cfg := desired.Spec.CreateBucketConfiguration; cfg != nil && cfg.LocationConstraint != nil {
		lc = *cfg.LocationConstraint
	} else if env.Region != "us-east-1" {
		// Outside us-east-1, S3 requires the region as location constraint.
		lc = env.Region
	}
	if lc != "" {
		in.CreateBucketConfiguration = &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(lc)}
	}
	out, err := c.CreateBucket(ctx, in)
	if err != nil {
		return nil, err
	}
	created := desired.DeepCopy()
	created.Status.Location = out.Location
	// Apply the managed configurations on the new bucket.
	empty := desired.DeepCopy()
	empty.Spec = s3v1alpha1.BucketSpec{Name: desired.Spec.Name}
	delta := m.Delta(desired, empty)
	if len(delta) > 0 {
		if _, err := m.Update(ctx, env, desired, empty, delta); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// managesTags reports whether the spec sets tagging or tags.
func managesTags(b *s3v1alpha1.Bucket) bool { return b.Spec.Tagging != nil || b.Spec.Tags != nil }

// desiredTags merges tagging.tagSet and the tags extension.
func desiredTags(b *s3v1alpha1.Bucket) (map[string]string, error) {
	m := tagMap(b.Spec.Tagging)
	for _, t := range b.Spec.Tags {
		if t == nil {
			continue
		}
		k, v := aws.ToString(t.Key), aws.ToString(t.Value)
		if old, ok := m[k]; ok && old != v {
			return nil, fmt.Errorf("spec.tags and spec.tagging.tagSet give tag %q different values", k)
		}
		m[k] = v
	}
	return m, nil
}

func tagMap(t *s3v1alpha1.Tagging) map[string]string {
	m := map[string]string{}
	if t == nil {
		return m
	}
	for _, tag := range t.TagSet {
		if tag != nil {
			m[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
	}
	return m
}

// equalPolicies compares two policy documents as JSON values.
func equalPolicies(a, b string) bool {
	if a == b {
		return true
	}
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}

// Delta implements runtime.Manager.
func (BucketManager) Delta(desired, latest *s3v1alpha1.Bucket) []string {
	var d []string
	if managesTags(desired) {
		want, _ := desiredTags(desired)
		if !reflect.DeepEqual(want, tagMap(latest.Spec.Tagging)) {
			d = append(d, "spec.tagging")
		}
	}
	if v := desired.Spec.Versioning; v != nil && v.Status != nil {
		var got string
		if latest.Spec.Versioning != nil {
			got = aws.ToString(latest.Spec.Versioning.Status)
		}
		// A bucket that never had versioning reports no status, which is
		// what Suspended means for it.
		if got != *v.Status && !(got == "" && *v.Status == string(s3types.BucketVersioningStatusSuspended)) {
			d = append(d, "spec.versioning")
		}
	}
	if desired.Spec.Policy != nil && !equalPolicies(*desired.Spec.Policy, aws.ToString(latest.Spec.Policy)) {
		d = append(d, "spec.policy")
	}
	return d
}

// Update implements runtime.Manager.
func (m BucketManager) Update(ctx context.Context, env ackrt.Env, desired, latest *s3v1alpha1.Bucket, delta []string) (*s3v1alpha1.Bucket, error) {
	c := client(env)
	name := desired.Spec.Name
	for _, path := range delta {
		switch path {
		case "spec.tagging":
			tags, err := desiredTags(desired)
			if err != nil {
				return nil, ackrt.Terminal("%v", err)
			}
			if len(tags) == 0 {
				if _, err := c.DeleteBucketTagging(ctx, &s3.DeleteBucketTaggingInput{Bucket: name}); err != nil {
					return nil, err
				}
				continue
			}
			keys := make([]string, 0, len(tags))
			for k := range tags {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			set := make([]s3types.Tag, 0, len(keys))
			for _, k := range keys {
				set = append(set, s3types.Tag{Key: aws.String(k), Value: aws.String(tags[k])})
			}
			if _, err := c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: name, Tagging: &s3types.Tagging{TagSet: set}}); err != nil {
				return nil, err
			}
		case "spec.versioning":
			if _, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: name,
				VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatus(aws.ToString(desired.Spec.Versioning.Status))}}); err != nil {
				return nil, err
			}
		case "spec.policy":
			if aws.ToString(desired.Spec.Policy) == "" {
				if _, err := c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: name}); err != nil {
					return nil, err
				}
				continue
			}
			if _, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: name, Policy: desired.Spec.Policy}); err != nil {
				return nil, err
			}
		}
	}
	return m.ReadOne(ctx, env, desired)
}

// Delete implements runtime.Manager. A bucket that still has objects is
// not emptied: S3's BucketNotEmpty is reported and retried.
func (BucketManager) Delete(ctx context.Context, env ackrt.Env, latest *s3v1alpha1.Bucket) (bool, error) {
	_, err := client(env).DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: latest.Spec.Name})
	return err == nil, err
}

// IsSynced implements runtime.Manager: a bucket that exists is synced.
func (BucketManager) IsSynced(*s3v1alpha1.Bucket) (bool, string, error) { return true, "", nil }

// LateInitialize implements runtime.Manager: S3 sets no spec defaults that
// trellis manages.
func (BucketManager) LateInitialize(_, _ *s3v1alpha1.Bucket) bool { return false }

// MergeCreateStatus keeps CreateBucket's Location in the status.
func (BucketManager) MergeCreateStatus(created, latest *s3v1alpha1.Bucket) {
	if created.Status.Location != nil {
		latest.Status.Location = created.Status.Location
	}
}

// ReadForAdoption implements runtime.AdoptionReader: it reads tags,
// versioning and policy, whatever the spec sets, and leaves out what the
// bucket does not have configured.
func (m BucketManager) ReadForAdoption(ctx context.Context, env ackrt.Env, desired *s3v1alpha1.Bucket) (*s3v1alpha1.Bucket, error) {
	all := desired.DeepCopy()
	all.Spec.Tagging = &s3v1alpha1.Tagging{}
	all.Spec.Versioning = &s3v1alpha1.VersioningConfiguration{}
	all.Spec.Policy = aws.String("")
	latest, err := m.ReadOne(ctx, env, all)
	if err != nil {
		return nil, err
	}
	if latest.Spec.Tagging != nil && len(latest.Spec.Tagging.TagSet) == 0 {
		latest.Spec.Tagging = nil
	}
	if latest.Spec.Versioning != nil && latest.Spec.Versioning.Status == nil {
		latest.Spec.Versioning = nil
	}
	if aws.ToString(latest.Spec.Policy) == "" {
		latest.Spec.Policy = nil
	}
	return latest, nil
}
