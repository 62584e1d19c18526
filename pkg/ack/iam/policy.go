package iam

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/trellis-dev/trellis/api/ack/iam/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// maxPolicyVersions is IAM's limit of versions per managed policy.
const maxPolicyVersions = 5

// PolicyManager implements runtime.Manager for Policy.
//
// ReadOne calls GetPolicy (which carries the tags) and GetPolicyVersion of
// the default version. A changed document becomes a new default version
// (CreatePolicyVersion), after deleting the oldest non-default version when
// the policy already has five. The description cannot change in IAM and is
// used at creation only, as in ACK.
type PolicyManager struct{}

var _ ackrt.Manager[*v1.Policy] = PolicyManager{}

// Service implements runtime.Manager.
func (PolicyManager) Service() string { return "iam" }

// Kind implements runtime.Manager.
func (PolicyManager) Kind() string { return "Policy" }

// New implements runtime.Manager.
func (PolicyManager) New() *v1.Policy { return &v1.Policy{} }

// Classifier implements runtime.Manager.
func (PolicyManager) Classifier() ackrt.Classifier { return classifier() }

// AdoptionFields implements runtime.Manager: {"arn": "..."}, as in ACK.
func (PolicyManager) AdoptionFields(p *v1.Policy, fields map[string]string) error {
	arn := fields["arn"]
	if arn == "" {
		return errors.New(`"arn" is required`)
	}
	setStatusARN(&p.Status.ResourceStatus, &arn)
	return nil
}

// policyARN is the ARN of the policy p stands for: its status ARN once it
// owns one, else the ARN its spec's path and name give in this account.
func policyARN(env ackrt.Env, p *v1.Policy) string {
	if a := statusARN(&p.Status.ResourceStatus); a != "" && owned(p, "Policy") {
		return a
	}
	if aws.ToString(p.Spec.Name) == "" {
		return ""
	}
	path := aws.ToString(p.Spec.Path)
	if path == "" {
		path = "/"
	}
	return fmt.Sprintf("arn:%s:iam::%s:policy%s%s", partition(env), env.AccountID, path, *p.Spec.Name)
}

// Validate implements runtime.Manager.
func (PolicyManager) Validate(p *v1.Policy) error {
	a := statusARN(&p.Status.ResourceStatus)
	if !owned(p, "Policy") {
		a = ""
	}
	if a == "" && aws.ToString(p.Spec.Name) == "" {
		return ackrt.Terminal("spec.name is required")
	}
	return checkIdentity(a, p.Spec.Name, p.Spec.Path)
}

// ARN implements runtime.Manager: the observed ARN, shown only for a CR
// that owns the policy (a foreign policy's ARN would otherwise become this
// CR's identity).
func (PolicyManager) ARN(_ ackrt.Env, p *v1.Policy) string {
	if !owned(p, "Policy") {
		return ""
	}
	return statusARN(&p.Status.ResourceStatus)
}

// ReadOne implements runtime.Manager.
func (PolicyManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.Policy) (*v1.Policy, error) {
	arn := policyARN(env, desired)
	if arn == "" {
		return nil, ackrt.Terminal("spec.name is required")
	}
	c := newClient(env)
	out, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: &arn})
	if err != nil {
		return nil, err
	}
	pol := out.Policy
	latest := desired.DeepCopy()
	latest.Spec = v1.PolicySpec{Name: pol.PolicyName, Path: pol.Path, Description: pol.Description, Tags: tagsFrom(pol.Tags)}
	if pol.DefaultVersionId != nil {
		v, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: &arn, VersionId: pol.DefaultVersionId})
		if err != nil {
			return nil, partErr("GetPolicyVersion", err)
		}
		if v.PolicyVersion != nil && v.PolicyVersion.Document != nil {
			doc := ackrt.DecodePolicyDocument(*v.PolicyVersion.Document)
			latest.Spec.PolicyDocument = &doc
		}
	}
	st := &latest.Status
	st.AttachmentCount = ptrInt64(pol.AttachmentCount)
	st.PermissionsBoundaryUsageCount = ptrInt64(pol.PermissionsBoundaryUsageCount)
	st.IsAttachable = aws.Bool(pol.IsAttachable)
	st.DefaultVersionID = pol.DefaultVersionId
	st.PolicyID = pol.PolicyId
	st.CreateDate, st.UpdateDate = nil, nil
	if pol.CreateDate != nil {
		t := metav1.NewTime(*pol.CreateDate)
		st.CreateDate = &t
	}
	if pol.UpdateDate != nil {
		t := metav1.NewTime(*pol.UpdateDate)
		st.UpdateDate = &t
	}
	setStatusARN(&st.ResourceStatus, pol.Arn)
	return latest, nil
}

// Create implements runtime.Manager: one CreatePolicy with document and tags.
func (PolicyManager) Create(ctx context.Context, env ackrt.Env, desired *v1.Policy) (*v1.Policy, error) {
	s := desired.Spec
	out, err := newClient(env).CreatePolicy(ctx, &iam.CreatePolicyInput{
		PolicyName: s.Name, Path: s.Path, Description: s.Description, PolicyDocument: s.PolicyDocument, Tags: tagsTo(s.Tags),
	})
	if err != nil {
		return nil, err
	}
	created := desired.DeepCopy()
	if p := out.Policy; p != nil {
		setStatusARN(&created.Status.ResourceStatus, p.Arn)
		created.Status.PolicyID = p.PolicyId
		created.Status.DefaultVersionID = p.DefaultVersionId
	}
	return created, nil
}

// Delta implements runtime.Manager. Tags follow ACK: the spec's list is the
// whole set (none when absent).
func (PolicyManager) Delta(desired, latest *v1.Policy) []string {
	var d []string
	if w := desired.Spec.PolicyDocument; w != nil && !ackrt.EqualPolicyDocuments(*w, aws.ToString(latest.Spec.PolicyDocument)) {
		d = append(d, "spec.policyDocument")
	}
	if !maps.Equal(tagMap(desired.Spec.Tags), tagMap(latest.Spec.Tags)) {
		d = append(d, "spec.tags")
	}
	return d
}

// Update implements runtime.Manager.
func (m PolicyManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.Policy, delta []string) (*v1.Policy, error) {
	c := newClient(env)
	arn := statusARN(&latest.Status.ResourceStatus)
	for _, path := range delta {
		switch path {
		case "spec.tags":
			remove, add := tagChanges(tagMap(desired.Spec.Tags), tagMap(latest.Spec.Tags))
			if len(remove) > 0 {
				if _, err := c.UntagPolicy(ctx, &iam.UntagPolicyInput{PolicyArn: &arn, TagKeys: remove}); err != nil {
					return nil, partErr("UntagPolicy", err)
				}
			}
			if len(add) > 0 {
				if _, err := c.TagPolicy(ctx, &iam.TagPolicyInput{PolicyArn: &arn, Tags: add}); err != nil {
					return nil, partErr("TagPolicy", err)
				}
			}
		case "spec.policyDocument":
			if err := pruneVersions(ctx, c, arn, maxPolicyVersions-1); err != nil {
				return nil, err
			}
			if _, err := c.CreatePolicyVersion(ctx, &iam.CreatePolicyVersionInput{
				PolicyArn: &arn, PolicyDocument: desired.Spec.PolicyDocument, SetAsDefault: true,
			}); err != nil {
				return nil, partErr("CreatePolicyVersion", err)
			}
		}
	}
	return m.ReadOne(ctx, env, desired)
}

// versions lists a policy's versions, oldest first.
func versions(ctx context.Context, c *iam.Client, arn string) ([]iamtypes.PolicyVersion, error) {
	var out []iamtypes.PolicyVersion
	p := iam.NewListPolicyVersionsPaginator(c, &iam.ListPolicyVersionsInput{PolicyArn: &arn})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, partErr("ListPolicyVersions", err)
		}
		out = append(out, page.Versions...)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].CreateDate, out[j].CreateDate
		return a != nil && b != nil && a.Before(*b)
	})
	return out, nil
}

// pruneVersions deletes the oldest non-default versions until at most keep
// remain.
func pruneVersions(ctx context.Context, c *iam.Client, arn string, keep int) error {
	vs, err := versions(ctx, c, arn)
	if err != nil {
		return err
	}
	n := len(vs)
	for _, v := range vs {
		if n <= keep {
			break
		}
		if v.IsDefaultVersion {
			continue
		}
		if _, err := c.DeletePolicyVersion(ctx, &iam.DeletePolicyVersionInput{PolicyArn: &arn, VersionId: v.VersionId}); err != nil && !isNoSuchEntity(err) {
			return partErr("DeletePolicyVersion "+aws.ToString(v.VersionId), err)
		}
		n--
	}
	return nil
}

// Delete implements runtime.Manager. IAM refuses to delete a policy that is
// still attached (DeleteConflict, retried); the attachment count is checked
// first so that servers which do not refuse (moto) behave the same. The
// non-default versions go first, as IAM requires.
func (PolicyManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.Policy) (bool, error) {
	arn := statusARN(&latest.Status.ResourceStatus)
	if n := aws.ToInt64(latest.Status.AttachmentCount); n > 0 {
		return false, fmt.Errorf("DeleteConflict: policy %s is still attached to %d entities", arn, n)
	}
	c := newClient(env)
	if err := pruneVersions(ctx, c, arn, 1); err != nil {
		return false, err
	}
	_, err := c.DeletePolicy(ctx, &iam.DeletePolicyInput{PolicyArn: &arn})
	return err == nil, err
}

// IsSynced implements runtime.Manager: a policy that exists is synced.
func (PolicyManager) IsSynced(*v1.Policy) (bool, string, error) { return true, "", nil }

// LateInitialize implements runtime.Manager: nothing is copied into the spec.
func (PolicyManager) LateInitialize(_, _ *v1.Policy) bool { return false }
