// Package iam implements the ACK-compatible iam.services.k8s.aws Policy and
// Role.
//
// Which AWS resource a CR stands for is decided with care (ACK
// community#2102 deleted a role it never created after a rename): the
// status ARN identifies the resource only once the CR owns it (it carries
// the kind's finalizer, or an adoption policy), and it is only ever written
// for such a CR. Otherwise the spec's name (and, for a Policy, path and the
// account) identifies it. A renamed name or path of an owned resource is
// refused with ACK.Terminal; nothing new is created and the deletion of the
// CR still deletes the resource it owns, never another one.
package iam

import (
	"errors"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/iam/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func newClient(env ackrt.Env) *iam.Client { return iam.NewFromConfig(env.AWS) }

// classifier is shared by both kinds: ACK's codes, plus ValidationError
// (IAM's code for a request that fails its input constraints).
func classifier() ackrt.Classifier {
	return ackrt.Classifier{
		NotFoundCodes: []string{"NoSuchEntity"},
		TerminalCodes: []string{"InvalidInput", "MalformedPolicyDocument", "ValidationError"},
	}
}

// owned reports whether obj owns its AWS resource: created or adopted by
// it (finalizer), or about to adopt it (adoption policy).
func owned(obj client.Object, kind string) bool {
	if controllerutil.ContainsFinalizer(obj, "finalizers.iam.services.k8s.aws/"+kind) {
		return true
	}
	switch obj.GetAnnotations()[ackv1alpha1.AnnotationAdoptionPolicy] {
	case ackv1alpha1.AdoptionPolicyAdopt, ackv1alpha1.AdoptionPolicyAdoptOrCreate:
		return true
	}
	return false
}

func statusARN(st *ackv1alpha1.ResourceStatus) string {
	if md := st.ACKResourceMetadata; md != nil && md.ARN != nil {
		return string(*md.ARN)
	}
	return ""
}

func setStatusARN(st *ackv1alpha1.ResourceStatus, arn *string) {
	if arn == nil {
		return
	}
	a := ackv1alpha1.ARN(*arn)
	if st.ACKResourceMetadata == nil {
		st.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{}
	}
	st.ACKResourceMetadata.ARN = &a
}

// splitARN returns the path and name of an IAM ARN such as
// arn:aws:iam::123456789012:role/team/app (path "/team/", name "app").
func splitARN(arn string) (path, name string) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return "", ""
	}
	res := parts[5] // role/team/app
	i := strings.Index(res, "/")
	j := strings.LastIndex(res, "/")
	if i < 0 {
		return "", ""
	}
	return res[i : j+1], res[j+1:]
}

// checkIdentity refuses a changed name or path of an owned resource: IAM
// cannot rename roles or policies, and following the new name would orphan
// the old resource (ACK community#2268) or reach a foreign one (#2102).
func checkIdentity(arn string, name, path *string) error {
	if arn == "" {
		return nil
	}
	p, n := splitARN(arn)
	if name != nil && *name != n {
		return ackrt.Terminal("spec.name is immutable: this resource manages %s (name %q); create a new resource for %q", arn, n, *name)
	}
	if path != nil && *path != p {
		return ackrt.Terminal("spec.path is immutable: this resource manages %s (path %q)", arn, p)
	}
	return nil
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

func tagsFrom(tags []iamtypes.Tag) []*v1.Tag {
	var out []*v1.Tag
	for _, t := range tags {
		out = append(out, &v1.Tag{Key: t.Key, Value: t.Value})
	}
	return out
}

func tagsTo(tags []*v1.Tag) []iamtypes.Tag {
	var out []iamtypes.Tag
	for _, t := range tags {
		if t != nil {
			out = append(out, iamtypes.Tag{Key: t.Key, Value: t.Value})
		}
	}
	return out
}

// tagChanges returns the keys to remove and the tags to add or change.
func tagChanges(want, have map[string]string) (remove []string, add []iamtypes.Tag) {
	for k := range have {
		if _, ok := want[k]; !ok {
			remove = append(remove, k)
		}
	}
	sort.Strings(remove)
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if hv, ok := have[k]; !ok || hv != want[k] {
			add = append(add, iamtypes.Tag{Key: aws.String(k), Value: aws.String(want[k])})
		}
	}
	return remove, add
}

// opError is the error of a call on a part of the resource (an attached
// policy, an inline policy, a version). It hides the AWS error code so that
// a NoSuchEntity about the part is not taken for the resource being gone,
// and so that a failure after the resource was created keeps the finalizer.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + ackrt.AWSErrorMessage(e.err) }

// partErr wraps err of operation op; terminal AWS codes stay terminal.
func partErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var te *ackrt.TerminalError
	if errors.As(err, &te) {
		return err
	}
	if classifier().Classify(err) == ackrt.ClassTerminal {
		return ackrt.Terminal("%s: %s", op, ackrt.AWSErrorMessage(err))
	}
	return &opError{op: op, err: err}
}

func isNoSuchEntity(err error) bool { return ackrt.AWSErrorCode(err) == "NoSuchEntity" }

func stringsOf(ps []*string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

func set(l []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range l {
		m[s] = true
	}
	return m
}

func partition(env ackrt.Env) string {
	if env.Partition != "" {
		return env.Partition
	}
	return "aws"
}

func ptrInt64(v *int32) *int64 {
	if v == nil {
		return nil
	}
	i := int64(*v)
	return &i
}
