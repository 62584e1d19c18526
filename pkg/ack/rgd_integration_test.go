package ack_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// The seeds' RGDs that compose ACK kinds, run by trellis's core engine and
// its ACK controllers together against the local servers.

func (f *fixture) loadU(file string) *unstructured.Unstructured {
	f.t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		f.t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(b, &u.Object); err != nil {
		f.t.Fatal(err)
	}
	return u
}

// applyRGD creates the RGD and waits until it is Active; it is deleted
// when the test ends.
func (f *fixture) applyRGD(file string) {
	f.t.Helper()
	ctx := context.Background()
	rgd := f.loadU(file)
	// A leftover from an earlier run is removed first.
	_ = f.c.Delete(ctx, rgd.DeepCopy())
	f.eventually("old RGD "+rgd.GetName()+" gone", func() (bool, string) {
		err := f.c.Get(ctx, client.ObjectKeyFromObject(rgd), rgd.DeepCopy())
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if err := f.c.Create(ctx, rgd); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = f.c.Delete(context.Background(), rgd) })
	f.eventually("RGD "+rgd.GetName()+" Active", func() (bool, string) {
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(rgd), rgd); err != nil {
			return false, err.Error()
		}
		state, _, _ := unstructured.NestedString(rgd.Object, "status", "state")
		conds, _, _ := unstructured.NestedSlice(rgd.Object, "status", "conditions")
		return state == "Active", fmt.Sprintf("state %q conditions %v", state, conds)
	})
}

func (f *fixture) waitInstance(u *unstructured.Unstructured, statusFields ...string) {
	f.t.Helper()
	f.eventually(u.GetKind()+" "+u.GetName()+" ACTIVE", func() (bool, string) {
		if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(u), u); err != nil {
			return false, err.Error()
		}
		st, _, _ := unstructured.NestedMap(u.Object, "status")
		state, _ := st["state"].(string)
		if state != "ACTIVE" {
			return false, fmt.Sprint(st)
		}
		for _, field := range statusFields {
			if v, _ := st[field].(string); v == "" {
				return false, fmt.Sprint(st)
			}
		}
		return true, ""
	})
}

func (f *fixture) getU(gvk schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	err := f.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, u)
	return u, err
}

func (f *fixture) tableExists(name string) bool {
	_, err := f.ddb.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: &name})
	return err == nil
}

var (
	deploymentGVK = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	tableGVK      = schema.GroupVersionKind{Group: "dynamodb.services.k8s.aws", Version: "v1alpha1", Kind: "Table"}
	bucketGVK     = schema.GroupVersionKind{Group: "s3.services.k8s.aws", Version: "v1alpha1", Kind: "Bucket"}
)

// 004-application: a Bucket, a Table and a Deployment that gets their ARNs.
func TestApplicationRGD(t *testing.T) {
	f := start(t, startOptions{operator: true})
	ctx := context.Background()
	f.applyRGD("004-application-rgd.yaml")
	inst := f.loadU("004-application-instance.yaml")
	inst.SetNamespace(f.ns)
	if err := f.c.Create(ctx, inst); err != nil {
		t.Fatal(err)
	}
	f.waitInstance(inst, "bucketARN", "tableARN")
	st := map[string]string{}
	for _, k := range []string{"bucketARN", "tableARN"} {
		st[k], _, _ = unstructured.NestedString(inst.Object, "status", k)
	}
	if st["bucketARN"] != "arn:aws:s3:::my-app-data" || !strings.HasSuffix(st["tableARN"], ":table/my-app-data") {
		t.Fatalf("status %v", st)
	}
	if !f.bucketExists("my-app-data") || !f.tableExists("my-app-data") {
		t.Fatal("bucket or table missing on the servers")
	}
	// The RGD sets spec.tags on the Bucket (trellis's extension; ACK's
	// Bucket only has spec.tagging.tagSet).
	if tags := f.bucketTags("my-app-data"); tags["app"] != "my-app" {
		t.Fatalf("bucket tags %v", tags)
	}
	// The Deployment got the ARNs.
	f.eventually("Deployment env with ARNs", func() (bool, string) {
		d, err := f.getU(deploymentGVK, f.ns, "my-app")
		if err != nil {
			return false, err.Error()
		}
		cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		s := fmt.Sprint(cs)
		return strings.Contains(s, st["bucketARN"]) && strings.Contains(s, st["tableARN"]), s
	})

	if err := f.c.Delete(ctx, inst); err != nil {
		t.Fatal(err)
	}
	f.eventually("instance gone", func() (bool, string) {
		err := f.c.Get(ctx, client.ObjectKeyFromObject(inst), inst)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	f.eventually("bucket and table deleted on the servers", func() (bool, string) {
		b, tb := f.bucketExists("my-app-data"), f.tableExists("my-app-data")
		return !b && !tb, fmt.Sprintf("bucket %v table %v", b, tb)
	})
}

// 000-s3bucketadopt: the RGD adopts an existing bucket read-only.
func TestS3BucketAdoptRGD(t *testing.T) {
	f := start(t, startOptions{operator: true})
	ctx := context.Background()
	name := "krmops-s3adopt-123456789012"
	if _, err := f.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: &name, Tagging: &s3types.Tagging{
		TagSet: []s3types.Tag{{Key: aws.String("owner"), Value: aws.String("platform")}}}}); err != nil {
		t.Fatal(err)
	}
	before := f.bucketState(name)
	f.applyRGD("000-s3bucketadopt-rgd.yaml")
	inst := f.loadU("000-s3bucketadopt-instance.yaml")
	inst.SetNamespace(f.ns)
	if err := f.c.Create(ctx, inst); err != nil {
		t.Fatal(err)
	}
	f.waitInstance(inst)
	f.eventually("adopted Bucket synced", func() (bool, string) {
		b, err := f.getU(bucketGVK, f.ns, name)
		if err != nil {
			return false, err.Error()
		}
		arn, _, _ := unstructured.NestedString(b.Object, "status", "ackResourceMetadata", "arn")
		return arn == "arn:aws:s3:::"+name && b.GetAnnotations()["services.k8s.aws/adopted"] == "true", fmt.Sprint(b.Object["status"])
	})
	if after := f.bucketState(name); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("server changed: before %+v, after %+v", before, after)
	}
	if err := f.c.Delete(ctx, inst); err != nil {
		t.Fatal(err)
	}
	f.eventually("instance gone", func() (bool, string) {
		err := f.c.Get(ctx, client.ObjectKeyFromObject(inst), inst)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if !f.bucketExists(name) {
		t.Fatal("read-only adopted bucket was deleted")
	}
	if after := f.bucketState(name); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("server changed after delete: before %+v, after %+v", before, after)
	}
}

// 001/002 CartsStack: Namespace, Table with a GSI, ConfigMap, ServiceAccount,
// Deployment, Service. The instance projects the table ARN; deleting it
// deletes the Deployment before the Table.
func TestCartsStackRGD(t *testing.T) {
	f := start(t, startOptions{operator: true})
	ctx := context.Background()
	f.applyRGD("001-cartsstack-rgd.yaml")
	inst := f.loadU("002-cartsstack-instance.yaml")
	inst.SetNamespace(f.ns)
	if err := f.c.Create(ctx, inst); err != nil {
		t.Fatal(err)
	}
	f.waitInstance(inst, "tableARN")
	arn, _, _ := unstructured.NestedString(inst.Object, "status", "tableARN")
	if !strings.HasSuffix(arn, ":table/eks-workshop-carts-kro") {
		t.Fatalf("tableARN %q", arn)
	}
	out, err := f.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("eks-workshop-carts-kro")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Table.GlobalSecondaryIndexes) != 1 || aws.ToString(out.Table.GlobalSecondaryIndexes[0].IndexName) != "idx_global_customerId" {
		t.Fatalf("indexes %+v", out.Table.GlobalSecondaryIndexes)
	}

	if err := f.c.Delete(ctx, inst); err != nil {
		t.Fatal(err)
	}
	// Reverse order: when the Table starts deleting, the Deployment is
	// already gone or being deleted.
	f.eventually("Table deleting", func() (bool, string) {
		tbl, err := f.getU(tableGVK, "carts-kro", "items")
		tableDeleting := apierrors.IsNotFound(err) || (err == nil && tbl.GetDeletionTimestamp() != nil)
		if !tableDeleting {
			return false, fmt.Sprint(err)
		}
		d, derr := f.getU(deploymentGVK, "carts-kro", "carts")
		if derr == nil && d.GetDeletionTimestamp() == nil {
			t.Fatalf("the Table is being deleted while the Deployment is not")
		}
		return true, ""
	})
	f.eventually("instance gone", func() (bool, string) {
		err := f.c.Get(ctx, client.ObjectKeyFromObject(inst), inst)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	f.eventually("table deleted on the server", func() (bool, string) {
		return !f.tableExists("eks-workshop-carts-kro"), ""
	})
	_ = time.Second
}
