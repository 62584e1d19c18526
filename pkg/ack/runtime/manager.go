// Package runtime is the shared runtime of trellis's ACK-compatible
// controllers: the reconcile loop (create, adopt, read-only, update, late
// initialisation, delete), conditions, finalizers, annotations, requeue and
// error classification. Each service implements Manager for its kinds.
package runtime

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
)

// Object is an ACK-compatible custom resource.
type Object interface {
	client.Object
	ACKStatus() *ackv1alpha1.ResourceStatus
}

// Env is what one reconcile knows about where the resource lives.
type Env struct {
	// AWS is the SDK configuration, with Region set to the resource's region.
	AWS       aws.Config
	Region    string
	AccountID string
	Partition string
	Config    Config
}

// Manager implements the AWS side of one kind. Objects passed in are never
// modified except where stated; returned objects are new copies.
type Manager[T Object] interface {
	// Service is the service name, e.g. "s3".
	Service() string
	// Kind is the kind name, e.g. "Bucket".
	Kind() string
	// New returns an empty object of the kind.
	New() T
	// Classifier knows the kind's NotFound and terminal AWS error codes.
	Classifier() Classifier
	// ReadOne reads the AWS resource identified by desired's spec and returns
	// a copy of desired whose spec holds the observed values of the fields
	// desired manages and whose status is filled. A missing resource gives an
	// error for which Classifier().IsNotFound is true.
	ReadOne(ctx context.Context, env Env, desired T) (T, error)
	// Create creates the resource and returns the observed object.
	Create(ctx context.Context, env Env, desired T) (T, error)
	// Delta returns the spec paths where desired differs from latest,
	// ignoring fields desired leaves unset.
	Delta(desired, latest T) []string
	// Update makes AWS match desired in the delta paths.
	Update(ctx context.Context, env Env, desired, latest T, delta []string) (T, error)
	// Delete deletes the resource. done=false means the deletion goes on
	// asynchronously and the caller should requeue.
	Delete(ctx context.Context, env Env, latest T) (done bool, err error)
	// IsSynced reports whether latest is in a stable, desired state, with a
	// reason when it is not. A TerminalError means it never will be.
	IsSynced(latest T) (bool, string, error)
	// LateInitialize copies server-set defaults from latest into desired's
	// unset spec fields and reports whether it changed anything.
	LateInitialize(desired, latest T) bool
	// ARN returns the resource's ARN as observed (or computed).
	ARN(env Env, latest T) string
	// AdoptionFields fills desired's identifier from the adoption-fields
	// annotation (e.g. {"name": "..."}).
	AdoptionFields(desired T, fields map[string]string) error
	// Validate checks desired before any AWS call (e.g. identifiers that
	// must not change once the resource exists); errors are terminal.
	Validate(desired T) error
}

// CreateStatusMerger is implemented by managers whose Create output has
// status fields that ReadOne cannot observe (e.g. S3's Location).
type CreateStatusMerger[T Object] interface {
	MergeCreateStatus(created, latest T)
}

// AdoptionReader is implemented by managers whose ReadOne reads only what
// the spec manages: when adopting (not read-only), the spec is overwritten
// with everything observed, so it reads every configuration it implements.
type AdoptionReader[T Object] interface {
	ReadForAdoption(ctx context.Context, env Env, desired T) (T, error)
}
