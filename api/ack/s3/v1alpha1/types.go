// Package v1alpha1 is the s3.services.k8s.aws/v1alpha1 API: the Bucket kind,
// field-compatible with ACK's s3-controller for the fields trellis implements.
// The other fields of ACK's Bucket are declared too (tag
// ack:"unimplemented=<type>"), so the API server keeps them and the
// controller reports them as ACK.Terminal; fields ACK does not have are
// pruned, as with ACK's CRD.
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// GroupVersion is s3.services.k8s.aws/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: "s3.services.k8s.aws", Version: "v1alpha1"}

// AddToScheme registers Bucket and BucketList.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Bucket{}, &BucketList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Tag is one S3 tag.
type Tag struct {
	Key   *string `json:"key,omitempty"`
	Value *string `json:"value,omitempty"`
}

// Tagging is the bucket's tag set.
type Tagging struct {
	TagSet []*Tag `json:"tagSet,omitempty"`
}

// VersioningConfiguration is the bucket's versioning state.
type VersioningConfiguration struct {
	// Status is Enabled or Suspended.
	Status *string `json:"status,omitempty"`
}

// CreateBucketConfiguration is sent with CreateBucket.
type CreateBucketConfiguration struct {
	LocationConstraint *string `json:"locationConstraint,omitempty"`

	Bucket   any `json:"bucket,omitempty" ack:"unimplemented=object"`
	Location any `json:"location,omitempty" ack:"unimplemented=object"`
}

// BucketSpec is the desired state of a Bucket.
type BucketSpec struct {
	// Name of the bucket.
	Name *string `json:"name,omitempty" ack:"required,immutable"`
	// CreateBucketConfiguration is used only when the bucket is created.
	CreateBucketConfiguration *CreateBucketConfiguration `json:"createBucketConfiguration,omitempty"`
	// Policy is the bucket policy, a JSON document.
	Policy *string `json:"policy,omitempty"`
	// Tagging is the bucket's tag set.
	Tagging *Tagging `json:"tagging,omitempty"`
	// Tags is a trellis extension (not in ACK's Bucket): tags in the shape
	// the other ACK kinds use, merged with tagging.tagSet. Manifests written
	// for other kinds' tags field (e.g. the Application seed) work as meant.
	Tags []*Tag `json:"tags,omitempty" ack:"extension"`
	// Versioning is the bucket's versioning configuration.
	Versioning *VersioningConfiguration `json:"versioning,omitempty"`

	// Fields of ACK's Bucket that trellis does not implement: kept by the
	// API server and reported as ACK.Terminal when set.
	ABAC                       any `json:"abac,omitempty" ack:"unimplemented=object"`
	Accelerate                 any `json:"accelerate,omitempty" ack:"unimplemented=object"`
	ACL                        any `json:"acl,omitempty" ack:"unimplemented=string"`
	Analytics                  any `json:"analytics,omitempty" ack:"unimplemented=array"`
	CORS                       any `json:"cors,omitempty" ack:"unimplemented=object"`
	Encryption                 any `json:"encryption,omitempty" ack:"unimplemented=object"`
	GrantFullControl           any `json:"grantFullControl,omitempty" ack:"unimplemented=string"`
	GrantRead                  any `json:"grantRead,omitempty" ack:"unimplemented=string"`
	GrantReadACP               any `json:"grantReadACP,omitempty" ack:"unimplemented=string"`
	GrantWrite                 any `json:"grantWrite,omitempty" ack:"unimplemented=string"`
	GrantWriteACP              any `json:"grantWriteACP,omitempty" ack:"unimplemented=string"`
	IntelligentTiering         any `json:"intelligentTiering,omitempty" ack:"unimplemented=array"`
	Inventory                  any `json:"inventory,omitempty" ack:"unimplemented=array"`
	Lifecycle                  any `json:"lifecycle,omitempty" ack:"unimplemented=object"`
	Logging                    any `json:"logging,omitempty" ack:"unimplemented=object"`
	Metrics                    any `json:"metrics,omitempty" ack:"unimplemented=array"`
	Namespace                  any `json:"namespace,omitempty" ack:"unimplemented=string,immutable"`
	Notification               any `json:"notification,omitempty" ack:"unimplemented=object"`
	ObjectLockConfiguration    any `json:"objectLockConfiguration,omitempty" ack:"unimplemented=object"`
	ObjectLockEnabledForBucket any `json:"objectLockEnabledForBucket,omitempty" ack:"unimplemented=boolean"`
	ObjectOwnership            any `json:"objectOwnership,omitempty" ack:"unimplemented=string"`
	OwnershipControls          any `json:"ownershipControls,omitempty" ack:"unimplemented=object"`
	PublicAccessBlock          any `json:"publicAccessBlock,omitempty" ack:"unimplemented=object"`
	Replication                any `json:"replication,omitempty" ack:"unimplemented=object"`
	RequestPayment             any `json:"requestPayment,omitempty" ack:"unimplemented=object"`
	Website                    any `json:"website,omitempty" ack:"unimplemented=object"`
}

// BucketStatus is the observed state of a Bucket.
type BucketStatus struct {
	ackv1alpha1.ResourceStatus `json:",inline"`
	// Location is the location returned by CreateBucket.
	Location *string `json:"location,omitempty"`
}

// Bucket is an S3 bucket.
type Bucket struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BucketSpec   `json:"spec,omitempty"`
	Status            BucketStatus `json:"status,omitempty"`
}

// BucketList is a list of Buckets.
type BucketList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Bucket `json:"items"`
}

// DeepCopyObject implements runtime.Object.
func (b *Bucket) DeepCopyObject() runtime.Object { return b.DeepCopy() }

// DeepCopy returns a deep copy.
func (b *Bucket) DeepCopy() *Bucket {
	if b == nil {
		return nil
	}
	out := &Bucket{}
	ackv1alpha1.DeepCopyJSON(b, out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (l *BucketList) DeepCopyObject() runtime.Object {
	if l == nil {
		return nil
	}
	out := &BucketList{}
	ackv1alpha1.DeepCopyJSON(l, out)
	return out
}

// ACKStatus returns the shared part of the status.
func (b *Bucket) ACKStatus() *ackv1alpha1.ResourceStatus { return &b.Status.ResourceStatus }
