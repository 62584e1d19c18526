package ack_test

import "testing"

// The S3 Bucket and DynamoDB Table suites once more, every AWS API served by
// moto_server instead of versitygw and dynalite. Two tests do not apply to
// moto: it accepts bucket names S3 refuses (InvalidBucketName), and it keeps
// tables per region where dynalite ignores regions, so the test's us-east-1
// client cannot see a table the region annotation put in eu-west-1
// (RegionAnnotationAndLateInit).
func TestS3DynamoDBOnMoto(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"BucketManifest", TestBucketManifest},
		{"BucketRetain", TestBucketRetain},
		{"DeletionPolicyFlag", TestDeletionPolicyFlag},
		{"TableManifest", TestTableManifest},
		{"AdoptReadOnly", TestAdoptReadOnly},
		{"AdoptManaged", TestAdoptManaged},
		{"EndpointDown", TestEndpointDown},
		{"UnsupportedField", TestUnsupportedField},
		{"DriftCorrectedOnResync", TestDriftCorrectedOnResync},
		{"AdoptOrCreate", TestAdoptOrCreate},
		{"BadAdoptionPolicy", TestBadAdoptionPolicy},
		{"AdoptWaitsForResource", TestAdoptWaitsForResource},
		{"AdoptTable", TestAdoptTable},
		{"ApplicationRGD", TestApplicationRGD},
		{"S3BucketAdoptRGD", TestS3BucketAdoptRGD},
		{"CartsStackRGD", TestCartsStackRGD},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allOnMoto = true // read by start, at the beginning of run
			t.Cleanup(func() { allOnMoto = false })
			tc.run(t)
		})
	}
}
