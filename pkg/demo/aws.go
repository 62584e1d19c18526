package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/trellis-dev/trellis/pkg/localaws"
)

// createAdoptedBucket creates, straight in AWS, the bucket that the
// S3BucketAdopt instance adopts read-only: the seed's reader has it already.
func createAdoptedBucket(ctx context.Context, d *runner, objs []*unstructured.Unstructured) error {
	if d.opts.AWSEndpoint == "" {
		return errors.New("S3BucketAdopt needs the local AWS endpoint (--aws-endpoint-url) to create the bucket it adopts")
	}
	s3c := d.s3()
	for _, o := range objs {
		name, _, _ := unstructured.NestedString(o.Object, "spec", "name")
		_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{
			Bucket: aws.String(name),
			CreateBucketConfiguration: &s3types.CreateBucketConfiguration{
				LocationConstraint: s3types.BucketLocationConstraint(localaws.Region),
			},
		})
		var owned *s3types.BucketAlreadyOwnedByYou
		if err != nil && !errors.As(err, &owned) {
			return fmt.Errorf("creating bucket %s to adopt: %w", name, err)
		}
		d.adoptedBuckets = append(d.adoptedBuckets, name)
		fmt.Fprintf(d.opts.Out, "demo: created bucket %s in AWS directly, for %s to adopt\n", name, describe(o))
	}
	return nil
}

// fillNetwork writes the VPC and subnet ids of the Network instance into the
// DbWebStack instance (the seed has its author's ids there).
func fillNetwork(ctx context.Context, d *runner, objs []*unstructured.Unstructured) error {
	nw := &unstructured.Unstructured{}
	nw.SetAPIVersion("kro.run/v1alpha1")
	nw.SetKind("Network")
	nw.SetNamespace("default")
	nw.SetName("webapp-rds-network")
	live, err := d.get(ctx, nw)
	if err != nil {
		return fmt.Errorf("reading the Network instance: %w", err)
	}
	vpc, _, _ := unstructured.NestedString(live.Object, "status", "vpcID")
	subnets, _, _ := unstructured.NestedStringSlice(live.Object, "status", "subnetIDs")
	if vpc == "" || len(subnets) == 0 {
		return fmt.Errorf("Network %s has no vpcID/subnetIDs in its status", nw.GetName())
	}
	for _, o := range objs {
		if err := unstructured.SetNestedField(o.Object, vpc, "spec", "rds", "vpcID"); err != nil {
			return err
		}
		if err := unstructured.SetNestedStringSlice(o.Object, subnets, "spec", "rds", "subnetIDs"); err != nil {
			return err
		}
	}
	fmt.Fprintf(d.opts.Out, "demo: DbWebStack uses VPC %s and subnets %v from the Network instance\n", vpc, subnets)
	return nil
}

// deleteAdoptedBucket removes the bucket createAdoptedBucket made: the
// read-only adoption leaves it in AWS, as it should.
func deleteAdoptedBucket(ctx context.Context, d *runner, name string) error {
	_, err := d.s3().DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(name)})
	return err
}

func (d *runner) s3() *s3.Client {
	return s3.New(s3.Options{
		Region:       localaws.Region,
		BaseEndpoint: aws.String(d.opts.AWSEndpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(localaws.AccessKeyID, localaws.SecretAccessKey, ""),
	})
}
