package iam

import (
	"context"
	"errors"
	"maps"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/trellis-dev/trellis/api/ack/iam/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// RoleManager implements runtime.Manager for Role.
//
// ReadOne calls GetRole (which carries the tags), ListAttachedRolePolicies,
// and ListRolePolicies with one GetRolePolicy per inline policy, as ACK
// does. As in ACK, spec.policies, spec.inlinePolicies, spec.tags and
// spec.permissionsBoundary are the whole truth: an absent list means none,
// and what AWS has beyond it is removed. description, maxSessionDuration
// and path are left alone when the spec does not set them.
type RoleManager struct{}

var (
	_ ackrt.Manager[*v1.Role]           = RoleManager{}
	_ ackrt.ReferenceResolver[*v1.Role] = RoleManager{}
)

// Service implements runtime.Manager.
func (RoleManager) Service() string { return "iam" }

// Kind implements runtime.Manager.
func (RoleManager) Kind() string { return "Role" }

// New implements runtime.Manager.
func (RoleManager) New() *v1.Role { return &v1.Role{} }

// Classifier implements runtime.Manager.
func (RoleManager) Classifier() ackrt.Classifier { return classifier() }

// AdoptionFields implements runtime.Manager: {"name": "..."}, as in ACK.
func (RoleManager) AdoptionFields(r *v1.Role, fields map[string]string) error {
	name := fields["name"]
	if name == "" {
		return errors.New(`"name" is required`)
	}
	r.Spec.Name = &name
	return nil
}

// ownedARN is the status ARN of a CR that owns its role, else "".
func ownedARN(r *v1.Role) string {
	if !owned(r, "Role") {
		return ""
	}
	return statusARN(&r.Status.ResourceStatus)
}

// roleName is the name of the role r stands for: the one its status ARN
// names once it owns it, else spec.name.
func roleName(r *v1.Role) string {
	if a := ownedARN(r); a != "" {
		_, n := splitARN(a)
		return n
	}
	return aws.ToString(r.Spec.Name)
}

// Validate implements runtime.Manager.
func (RoleManager) Validate(r *v1.Role) error {
	if roleName(r) == "" {
		return ackrt.Terminal("spec.name is required")
	}
	for i, p := range r.Spec.Policies {
		if aws.ToString(p) == "" {
			return ackrt.Terminal("spec.policies[%d] is empty: a policy ARN is required", i)
		}
	}
	return checkIdentity(ownedARN(r), r.Spec.Name, r.Spec.Path)
}

// ARN implements runtime.Manager: shown only for a CR that owns the role.
func (RoleManager) ARN(_ ackrt.Env, r *v1.Role) string { return ownedARN(r) }

// ResolveReferences implements runtime.ReferenceResolver: policyRefs and
// permissionsBoundaryRef give the ARNs of iam Policies in the namespace.
// As in ACK, a concrete field and its reference cannot both be set.
func (RoleManager) ResolveReferences(ctx context.Context, refs *ackrt.Refs, r *v1.Role) error {
	gvk := v1.GroupVersion.WithKind("Policy")
	arnPath := []string{"status", "ackResourceMetadata", "arn"}
	if len(r.Spec.PolicyRefs) > 0 || r.Spec.PermissionsBoundaryRef != nil {
		refs.Used = true
	}
	if err := ackrt.Exclusive("permissionsBoundary", r.Spec.PermissionsBoundary != nil,
		"permissionsBoundaryRef", r.Spec.PermissionsBoundaryRef != nil); err != nil {
		return err
	}
	if err := ackrt.Exclusive("policies", len(r.Spec.Policies) > 0, "policyRefs", len(r.Spec.PolicyRefs) > 0); err != nil {
		return err
	}
	if r.Spec.PermissionsBoundaryRef != nil {
		a, err := refs.Resolve(ctx, "permissionsBoundaryRef", r.Spec.PermissionsBoundaryRef, gvk, arnPath...)
		if err != nil {
			return err
		}
		r.Spec.PermissionsBoundary = &a
	}
	if len(r.Spec.PolicyRefs) > 0 {
		arns, err := refs.ResolveAll(ctx, "policyRefs", r.Spec.PolicyRefs, gvk, arnPath...)
		if err != nil {
			return err
		}
		r.Spec.Policies = nil
		for _, a := range arns {
			r.Spec.Policies = append(r.Spec.Policies, aws.String(a))
		}
	}
	return nil
}

// ClearResolvedReferences implements runtime.ReferenceResolver.
func (RoleManager) ClearResolvedReferences(r *v1.Role) {
	if len(r.Spec.PolicyRefs) > 0 {
		r.Spec.Policies = nil
	}
	if r.Spec.PermissionsBoundaryRef != nil {
		r.Spec.PermissionsBoundary = nil
	}
}

// ReadOne implements runtime.Manager.
func (RoleManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.Role) (*v1.Role, error) {
	name := roleName(desired)
	c := newClient(env)
	out, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: &name})
	if err != nil {
		return nil, err
	}
	role := out.Role
	latest := desired.DeepCopy()
	s := v1.RoleSpec{
		Name: role.RoleName, Path: role.Path, Description: role.Description,
		MaxSessionDuration: ptrInt64(role.MaxSessionDuration), Tags: tagsFrom(role.Tags),
		PolicyRefs: desired.Spec.PolicyRefs, PermissionsBoundaryRef: desired.Spec.PermissionsBoundaryRef,
	}
	if role.AssumeRolePolicyDocument != nil {
		doc := ackrt.DecodePolicyDocument(*role.AssumeRolePolicyDocument)
		s.AssumeRolePolicyDocument = &doc
	}
	if pb := role.PermissionsBoundary; pb != nil && pb.PermissionsBoundaryArn != nil {
		s.PermissionsBoundary = pb.PermissionsBoundaryArn
	}
	attached := iam.NewListAttachedRolePoliciesPaginator(c, &iam.ListAttachedRolePoliciesInput{RoleName: &name})
	for attached.HasMorePages() {
		page, err := attached.NextPage(ctx)
		if err != nil {
			return nil, partErr("ListAttachedRolePolicies", err)
		}
		for _, p := range page.AttachedPolicies {
			s.Policies = append(s.Policies, p.PolicyArn)
		}
	}
	inline := iam.NewListRolePoliciesPaginator(c, &iam.ListRolePoliciesInput{RoleName: &name})
	for inline.HasMorePages() {
		page, err := inline.NextPage(ctx)
		if err != nil {
			return nil, partErr("ListRolePolicies", err)
		}
		for _, pn := range page.PolicyNames {
			p, err := c.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: &name, PolicyName: aws.String(pn)})
			if err != nil {
				return nil, partErr("GetRolePolicy "+pn, err)
			}
			if s.InlinePolicies == nil {
				s.InlinePolicies = map[string]*string{}
			}
			doc := ackrt.DecodePolicyDocument(aws.ToString(p.PolicyDocument))
			s.InlinePolicies[pn] = &doc
		}
	}
	latest.Spec = s

	st := &latest.Status
	st.RoleID = role.RoleId
	st.CreateDate, st.RoleLastUsed = nil, nil
	if role.CreateDate != nil {
		t := metav1.NewTime(*role.CreateDate)
		st.CreateDate = &t
	}
	if lu := role.RoleLastUsed; lu != nil && (lu.LastUsedDate != nil || lu.Region != nil) {
		st.RoleLastUsed = &v1.RoleLastUsed{Region: lu.Region}
		if lu.LastUsedDate != nil {
			t := metav1.NewTime(*lu.LastUsedDate)
			st.RoleLastUsed.LastUsedDate = &t
		}
	}
	setStatusARN(&st.ResourceStatus, role.Arn)
	return latest, nil
}

// Create implements runtime.Manager: CreateRole with everything it takes,
// then the managed and inline policies. Errors after CreateRole carry no
// AWS error code, so the finalizer stays and the next loop finishes the job.
func (m RoleManager) Create(ctx context.Context, env ackrt.Env, desired *v1.Role) (*v1.Role, error) {
	s := desired.Spec
	in := &iam.CreateRoleInput{
		RoleName: s.Name, Path: s.Path, AssumeRolePolicyDocument: s.AssumeRolePolicyDocument,
		Description: s.Description, PermissionsBoundary: s.PermissionsBoundary, Tags: tagsTo(s.Tags),
	}
	if s.MaxSessionDuration != nil {
		in.MaxSessionDuration = aws.Int32(int32(*s.MaxSessionDuration))
	}
	out, err := newClient(env).CreateRole(ctx, in)
	if err != nil {
		return nil, err
	}
	created := desired.DeepCopy()
	created.Status.RoleID = out.Role.RoleId
	setStatusARN(&created.Status.ResourceStatus, out.Role.Arn)
	empty := desired.DeepCopy()
	empty.Spec = v1.RoleSpec{Name: s.Name, Path: s.Path, AssumeRolePolicyDocument: s.AssumeRolePolicyDocument,
		Description: s.Description, MaxSessionDuration: s.MaxSessionDuration, PermissionsBoundary: s.PermissionsBoundary, Tags: s.Tags}
	if d := m.Delta(desired, empty); len(d) > 0 {
		if err := m.apply(ctx, env, desired, empty, d); err != nil {
			return nil, err
		}
	}
	return created, nil
}

func inlineEqual(want, have map[string]*string) bool {
	if len(want) != len(have) {
		return false
	}
	for k, w := range want {
		h, ok := have[k]
		if !ok || !ackrt.EqualPolicyDocuments(aws.ToString(w), aws.ToString(h)) {
			return false
		}
	}
	return true
}

// Delta implements runtime.Manager.
func (RoleManager) Delta(desired, latest *v1.Role) []string {
	var d []string
	ds, ls := desired.Spec, latest.Spec
	if w := ds.AssumeRolePolicyDocument; w != nil && !ackrt.EqualPolicyDocuments(*w, aws.ToString(ls.AssumeRolePolicyDocument)) {
		d = append(d, "spec.assumeRolePolicyDocument")
	}
	if ds.Description != nil && *ds.Description != aws.ToString(ls.Description) {
		d = append(d, "spec.description")
	}
	if ds.MaxSessionDuration != nil && *ds.MaxSessionDuration != aws.ToInt64(ls.MaxSessionDuration) {
		d = append(d, "spec.maxSessionDuration")
	}
	if aws.ToString(ds.PermissionsBoundary) != aws.ToString(ls.PermissionsBoundary) {
		d = append(d, "spec.permissionsBoundary")
	}
	if !maps.Equal(set(stringsOf(ds.Policies)), set(stringsOf(ls.Policies))) {
		d = append(d, "spec.policies")
	}
	if !inlineEqual(ds.InlinePolicies, ls.InlinePolicies) {
		d = append(d, "spec.inlinePolicies")
	}
	if !maps.Equal(tagMap(ds.Tags), tagMap(ls.Tags)) {
		d = append(d, "spec.tags")
	}
	return d
}

// Update implements runtime.Manager.
func (m RoleManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.Role, delta []string) (*v1.Role, error) {
	if err := m.apply(ctx, env, desired, latest, delta); err != nil {
		return nil, err
	}
	return m.ReadOne(ctx, env, desired)
}

func (RoleManager) apply(ctx context.Context, env ackrt.Env, desired, latest *v1.Role, delta []string) error {
	c := newClient(env)
	name := aws.String(roleName(latest))
	ds, ls := desired.Spec, latest.Spec
	updateRole := &iam.UpdateRoleInput{RoleName: name}
	var needUpdateRole bool
	for _, path := range delta {
		var err error
		op := ""
		switch path {
		case "spec.assumeRolePolicyDocument":
			op = "UpdateAssumeRolePolicy"
			_, err = c.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: name, PolicyDocument: ds.AssumeRolePolicyDocument})
		case "spec.description":
			updateRole.Description, needUpdateRole = ds.Description, true
		case "spec.maxSessionDuration":
			updateRole.MaxSessionDuration, needUpdateRole = aws.Int32(int32(*ds.MaxSessionDuration)), true
		case "spec.permissionsBoundary":
			if aws.ToString(ds.PermissionsBoundary) == "" {
				op = "DeleteRolePermissionsBoundary"
				_, err = c.DeleteRolePermissionsBoundary(ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: name})
			} else {
				op = "PutRolePermissionsBoundary"
				_, err = c.PutRolePermissionsBoundary(ctx, &iam.PutRolePermissionsBoundaryInput{RoleName: name, PermissionsBoundary: ds.PermissionsBoundary})
			}
		case "spec.policies":
			err = syncManagedPolicies(ctx, c, name, stringsOf(ds.Policies), stringsOf(ls.Policies))
		case "spec.inlinePolicies":
			err = syncInlinePolicies(ctx, c, name, ds.InlinePolicies, ls.InlinePolicies)
		case "spec.tags":
			remove, add := tagChanges(tagMap(ds.Tags), tagMap(ls.Tags))
			if len(remove) > 0 {
				if _, err := c.UntagRole(ctx, &iam.UntagRoleInput{RoleName: name, TagKeys: remove}); err != nil {
					return partErr("UntagRole", err)
				}
			}
			if len(add) > 0 {
				op = "TagRole"
				_, err = c.TagRole(ctx, &iam.TagRoleInput{RoleName: name, Tags: add})
			}
		}
		if err != nil {
			return partErr(op, err)
		}
	}
	if needUpdateRole {
		if _, err := c.UpdateRole(ctx, updateRole); err != nil {
			return partErr("UpdateRole", err)
		}
	}
	return nil
}

// syncManagedPolicies attaches what is missing, then detaches the rest.
func syncManagedPolicies(ctx context.Context, c *iam.Client, role *string, want, have []string) error {
	w, h := set(want), set(have)
	for _, p := range want {
		if !h[p] {
			h[p] = true
			if _, err := c.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: role, PolicyArn: aws.String(p)}); err != nil {
				return partErr("AttachRolePolicy "+p, err)
			}
		}
	}
	for _, p := range have {
		if !w[p] {
			if _, err := c.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: role, PolicyArn: aws.String(p)}); err != nil && !isNoSuchEntity(err) {
				return partErr("DetachRolePolicy "+p, err)
			}
		}
	}
	return nil
}

// syncInlinePolicies puts new and changed inline policies, then deletes the
// ones the spec no longer has.
func syncInlinePolicies(ctx context.Context, c *iam.Client, role *string, want, have map[string]*string) error {
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if h, ok := have[n]; ok && ackrt.EqualPolicyDocuments(aws.ToString(want[n]), aws.ToString(h)) {
			continue
		}
		if _, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: role, PolicyName: aws.String(n), PolicyDocument: want[n]}); err != nil {
			return partErr("PutRolePolicy "+n, err)
		}
	}
	for n := range have {
		if _, ok := want[n]; !ok {
			if _, err := c.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: role, PolicyName: aws.String(n)}); err != nil && !isNoSuchEntity(err) {
				return partErr("DeleteRolePolicy "+n, err)
			}
		}
	}
	return nil
}

// Delete implements runtime.Manager. IAM refuses to delete a role that
// still has policies, so its managed policies are detached and its inline
// policies deleted first (all of them, whatever the spec says).
func (RoleManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.Role) (bool, error) {
	c := newClient(env)
	name := aws.String(roleName(latest))
	if err := syncManagedPolicies(ctx, c, name, nil, stringsOf(latest.Spec.Policies)); err != nil {
		return false, err
	}
	if err := syncInlinePolicies(ctx, c, name, nil, latest.Spec.InlinePolicies); err != nil {
		return false, err
	}
	_, err := c.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: name})
	return err == nil, err
}

// IsSynced implements runtime.Manager: a role that exists is synced.
func (RoleManager) IsSynced(*v1.Role) (bool, string, error) { return true, "", nil }

// LateInitialize implements runtime.Manager: nothing is copied into the spec.
func (RoleManager) LateInitialize(_, _ *v1.Role) bool { return false }
