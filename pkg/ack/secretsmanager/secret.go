// Package secretsmanager implements the ACK-compatible
// secretsmanager.services.k8s.aws Secret.
//
// The value comes from a Kubernetes Secret key (spec.secretString) and is
// held in memory only. To know when to write it again without keeping any
// digest of it, the status records where the written value came from
// (status.secretStringSourceVersion: the Secret's namespace/name/key and
// resourceVersion) and which Secrets Manager version holds it
// (status.versionID). The value is written again (PutSecretValue) when the
// Kubernetes Secret changed, or when AWSCURRENT is no longer that version
// (someone wrote a value behind trellis's back).
//
// ReadOne is one DescribeSecret. Deletion is DeleteSecret with Secrets
// Manager's default recovery window (30 days), as ACK does.
package secretsmanager

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/trellis-dev/trellis/api/ack/secretsmanager/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// SecretManager implements runtime.Manager for Secret.
type SecretManager struct{}

var (
	_ ackrt.Manager[*v1.Secret]            = SecretManager{}
	_ ackrt.ReferenceResolver[*v1.Secret]  = SecretManager{}
	_ ackrt.CreateStatusMerger[*v1.Secret] = SecretManager{}
)

// Service implements runtime.Manager.
func (SecretManager) Service() string { return "secretsmanager" }

// Kind implements runtime.Manager.
func (SecretManager) Kind() string { return "Secret" }

// New implements runtime.Manager.
func (SecretManager) New() *v1.Secret { return &v1.Secret{} }

// Classifier implements runtime.Manager. ACK's Secret has no terminal codes.
func (SecretManager) Classifier() ackrt.Classifier {
	return ackrt.Classifier{NotFoundCodes: []string{"ResourceNotFoundException"}}
}

func client(env ackrt.Env) *secretsmanager.Client { return secretsmanager.NewFromConfig(env.AWS) }

// ResolveReferences implements runtime.ReferenceResolver: the value of
// spec.secretString, kept in memory with the Secret's resourceVersion.
func (SecretManager) ResolveReferences(ctx context.Context, refs *ackrt.Refs, s *v1.Secret) error {
	ref := s.Spec.SecretString
	if ref == nil {
		return nil
	}
	value, rv, err := refs.SecretValueVersion(ctx, "secretString", ref)
	if err != nil {
		return err
	}
	ns := ref.Namespace
	if ns == "" {
		ns = s.Namespace
	}
	s.SetResolved(&v1.ResolvedValue{Value: value, Source: fmt.Sprintf("%s/%s/%s@%s", ns, ref.Name, ref.Key, rv)})
	return nil
}

// ClearResolvedReferences implements runtime.ReferenceResolver. The value
// has no JSON field, so it can never be written; dropping it is hygiene.
func (SecretManager) ClearResolvedReferences(s *v1.Secret) { s.SetResolved(nil) }

// AdoptionFields implements runtime.Manager: {"name": "..."} and/or
// {"id": "<ARN>"}.
func (SecretManager) AdoptionFields(s *v1.Secret, fields map[string]string) error {
	name, id := fields["name"], fields["id"]
	if name == "" && id == "" {
		return errors.New(`"name" is required`)
	}
	if name != "" {
		s.Spec.Name = &name
	}
	if id != "" {
		s.Status.ID = &id
	}
	return nil
}

// Validate implements runtime.Manager. spec.name cannot change once the
// secret exists (ACK's CRD has a CEL rule; this guards the rest).
func (SecretManager) Validate(s *v1.Secret) error {
	name, id := aws.ToString(s.Spec.Name), aws.ToString(s.Status.ID)
	if name == "" && id == "" {
		return ackrt.Terminal("spec.name is required")
	}
	// The ARN is ...:secret:<name>-<6 random characters>.
	if name != "" && id != "" && !strings.Contains(id, ":secret:"+name+"-") {
		return ackrt.Terminal("spec.name is immutable: this resource manages %s", id)
	}
	return nil
}

// ARN implements runtime.Manager: the ARN Secrets Manager returned (it has
// a random suffix, so it cannot be computed).
func (SecretManager) ARN(_ ackrt.Env, s *v1.Secret) string { return aws.ToString(s.Status.ID) }

// ReadOne implements runtime.Manager. A secret scheduled for deletion is
// treated as absent: nothing can be done with it but restore it.
func (SecretManager) ReadOne(ctx context.Context, env ackrt.Env, desired *v1.Secret) (*v1.Secret, error) {
	id := desired.Status.ID
	if id == nil {
		id = desired.Spec.Name
	}
	out, err := client(env).DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: id})
	if err != nil {
		return nil, err
	}
	if out.DeletedDate != nil {
		return nil, fmt.Errorf("secret %s is scheduled for deletion: %w", aws.ToString(out.ARN), ackrt.ErrNotFound)
	}
	latest := desired.DeepCopy()
	latest.Spec = v1.SecretSpec{
		Name: out.Name, Description: out.Description, KMSKeyID: out.KmsKeyId,
		SecretString: desired.Spec.SecretString,
	}
	for _, t := range out.Tags {
		latest.Spec.Tags = append(latest.Spec.Tags, &v1.Tag{Key: t.Key, Value: t.Value})
	}
	latest.Status.ID = out.ARN
	latest.Status.VersionID = nil
	for v, stages := range out.VersionIdsToStages {
		for _, st := range stages {
			if st == "AWSCURRENT" {
				latest.Status.VersionID = aws.String(v)
			}
		}
	}
	latest.Status.ReplicationStatus = nil
	for _, r := range out.ReplicationStatus {
		rs := &v1.ReplicationStatusType{KMSKeyID: r.KmsKeyId, Region: r.Region, StatusMessage: r.StatusMessage}
		if r.Status != "" {
			rs.Status = aws.String(string(r.Status))
		}
		if r.LastAccessedDate != nil {
			rs.LastAccessedDate = &metav1.Time{Time: *r.LastAccessedDate}
		}
		latest.Status.ReplicationStatus = append(latest.Status.ReplicationStatus, rs)
	}
	return latest, nil
}

// value returns the value to write, or nil when there is none (no
// secretString, or an empty value, which ACK does not send either).
func value(s *v1.Secret) *v1.ResolvedValue {
	if s.Spec.SecretString == nil {
		return nil
	}
	if r := s.Resolved(); r != nil && r.Value != "" {
		return r
	}
	return nil
}

// Create implements runtime.Manager: CreateSecret with the value, the
// description, the KMS key and the tags.
func (SecretManager) Create(ctx context.Context, env ackrt.Env, desired *v1.Secret) (*v1.Secret, error) {
	in := &secretsmanager.CreateSecretInput{
		Name: desired.Spec.Name, Description: desired.Spec.Description, KmsKeyId: desired.Spec.KMSKeyID,
		Tags: sdkTags(tagMap(desired.Spec.Tags)),
	}
	val := value(desired)
	if val != nil {
		in.SecretString = aws.String(val.Value)
	}
	out, err := client(env).CreateSecret(ctx, in)
	if err != nil {
		return nil, err
	}
	created := desired.DeepCopy()
	created.Status.ID, created.Status.VersionID = out.ARN, out.VersionId
	created.Status.SecretStringSourceVersion = nil
	if val != nil {
		created.Status.SecretStringSourceVersion = aws.String(val.Source)
	}
	return created, nil
}

// MergeCreateStatus implements runtime.CreateStatusMerger: where the value
// came from is known only to Create.
func (SecretManager) MergeCreateStatus(created, latest *v1.Secret) {
	latest.Status.SecretStringSourceVersion = created.Status.SecretStringSourceVersion
	if latest.Status.VersionID == nil {
		latest.Status.VersionID = created.Status.VersionID
	}
}

func tagMap(tags []*v1.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		if t != nil {
			m[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
	}
	return m
}

func sdkTags(m map[string]string) []smtypes.Tag {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []smtypes.Tag
	for _, k := range keys {
		out = append(out, smtypes.Tag{Key: aws.String(k), Value: aws.String(m[k])})
	}
	return out
}

// valueStale reports whether the value must be written again: it came
// from another Secret or resourceVersion than the one written last, or the
// version written last is no longer AWSCURRENT.
func valueStale(desired, latest *v1.Secret) bool {
	val := value(desired)
	if val == nil {
		return false
	}
	if aws.ToString(desired.Status.SecretStringSourceVersion) != val.Source {
		return true
	}
	written := aws.ToString(desired.Status.VersionID)
	return written != "" && aws.ToString(latest.Status.VersionID) != written
}

// Delta implements runtime.Manager.
func (SecretManager) Delta(desired, latest *v1.Secret) []string {
	var d []string
	if desired.Spec.Description != nil && *desired.Spec.Description != aws.ToString(latest.Spec.Description) {
		d = append(d, "spec.description")
	}
	if desired.Spec.KMSKeyID != nil && *desired.Spec.KMSKeyID != aws.ToString(latest.Spec.KMSKeyID) {
		d = append(d, "spec.kmsKeyID")
	}
	if valueStale(desired, latest) {
		d = append(d, "spec.secretString")
	}
	if desired.Spec.Tags != nil {
		want, got := tagMap(desired.Spec.Tags), tagMap(latest.Spec.Tags)
		if fmt.Sprint(want) != fmt.Sprint(got) { // fmt sorts map keys
			d = append(d, "spec.tags")
		}
	}
	return d
}

// Update implements runtime.Manager: UpdateSecret for the description and
// KMS key, PutSecretValue for the value, TagResource/UntagResource.
func (m SecretManager) Update(ctx context.Context, env ackrt.Env, desired, latest *v1.Secret, delta []string) (*v1.Secret, error) {
	c := client(env)
	id := latest.Status.ID
	has := func(p string) bool {
		for _, d := range delta {
			if d == p {
				return true
			}
		}
		return false
	}
	if has("spec.description") || has("spec.kmsKeyID") {
		in := &secretsmanager.UpdateSecretInput{SecretId: id}
		if has("spec.description") {
			in.Description = desired.Spec.Description
		}
		if has("spec.kmsKeyID") {
			in.KmsKeyId = desired.Spec.KMSKeyID
		}
		if _, err := c.UpdateSecret(ctx, in); err != nil {
			return nil, err
		}
	}
	var written *v1.ResolvedValue
	var version *string
	if has("spec.secretString") {
		written = value(desired)
		out, err := c.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: id, SecretString: aws.String(written.Value)})
		if err != nil {
			return nil, err
		}
		version = out.VersionId
	}
	if has("spec.tags") {
		want, got := tagMap(desired.Spec.Tags), tagMap(latest.Spec.Tags)
		var remove []string
		for k := range got {
			if _, ok := want[k]; !ok {
				remove = append(remove, k)
			}
		}
		sort.Strings(remove)
		if len(remove) > 0 {
			if _, err := c.UntagResource(ctx, &secretsmanager.UntagResourceInput{SecretId: id, TagKeys: remove}); err != nil {
				return nil, err
			}
		}
		add := map[string]string{}
		for k, v := range want {
			if w, ok := got[k]; !ok || w != v {
				add[k] = v
			}
		}
		if len(add) > 0 {
			if _, err := c.TagResource(ctx, &secretsmanager.TagResourceInput{SecretId: id, Tags: sdkTags(add)}); err != nil {
				return nil, err
			}
		}
	}
	out, err := m.ReadOne(ctx, env, desired)
	if err != nil {
		return nil, err
	}
	if written != nil {
		out.Status.SecretStringSourceVersion = aws.String(written.Source)
		if version != nil {
			out.Status.VersionID = version
		}
	}
	return out, nil
}

// Delete implements runtime.Manager: DeleteSecret with the default
// recovery window (30 days), as ACK does; the secret can be restored
// meanwhile, and its name stays taken.
func (SecretManager) Delete(ctx context.Context, env ackrt.Env, latest *v1.Secret) (bool, error) {
	_, err := client(env).DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: latest.Status.ID})
	return err == nil, err
}

// IsSynced implements runtime.Manager: a secret that exists is synced.
func (SecretManager) IsSynced(*v1.Secret) (bool, string, error) { return true, "", nil }

// LateInitialize implements runtime.Manager: nothing.
func (SecretManager) LateInitialize(_, _ *v1.Secret) bool { return false }
