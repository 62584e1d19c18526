package ack_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	dynamodbv1alpha1 "github.com/trellis-dev/trellis/api/ack/dynamodb/v1alpha1"
	rdsv1alpha1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	s3v1alpha1 "github.com/trellis-dev/trellis/api/ack/s3/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	"github.com/trellis-dev/trellis/pkg/bench"
	"github.com/trellis-dev/trellis/pkg/operator"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// logs collects controller logs per test; they are printed when it fails.
type switchWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *switchWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w == nil {
		return len(p), nil
	}
	return s.w.Write(p)
}

func (s *switchWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var logs = &switchWriter{}

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(logs)))
	// Full: the RGD tests' Deployments need scheduled, ready pods.
	os.Exit(testenv.Run(m, testenv.Options{Full: true}))
}

// fixture is one test's world: local AWS servers, the ACK controllers in a
// manager against the test control plane, and a namespace.
type fixture struct {
	t      *testing.T
	ns     string
	c      client.Client
	s3srv  *acktest.Server
	ddbsrv *acktest.Server
	s3     *s3.Client
	ddb    *dynamodb.Client
	// proxy counts the controllers' S3 requests (when started with one).
	proxy *acktest.Proxy
	// moto is the moto server when the test runs on moto (then s3srv and
	// ddbsrv are moto too); accountID is the account STS answers with.
	moto      *acktest.Server
	accountID string
}

type startOptions struct {
	edit func(*ack.Options)
	// s3Proxy routes the controllers' S3 traffic through a counting proxy.
	s3Proxy bool
	// operator also runs trellis's RGD and instance controllers.
	operator bool
	// moto serves every AWS API from one moto_server (instead of versitygw
	// and dynalite); awsProxy then routes all of the controllers' AWS
	// traffic through f.proxy.
	moto, awsProxy bool
	// motoServer, when set, is a moto the test started itself (e.g. behind
	// its own proxy); it serves every AWS service.
	motoServer *acktest.Server
}

// allOnMoto makes every start use moto: the S3 and DynamoDB suites' moto run.
var allOnMoto bool

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = s3v1alpha1.AddToScheme(s)
	_ = dynamodbv1alpha1.AddToScheme(s)
	_ = rdsv1alpha1.AddToScheme(s)
	return s
}

// start brings up the servers and the controllers. edit adjusts the options.
// runManager runs the ACK controllers of opts (and whatever setup adds) in a
// manager until the test ends; their logs are printed if the test fails.
func runManager(t *testing.T, s *runtime.Scheme, opts ack.Options, setup func(ctrl.Manager) error) {
	t.Helper()
	buf := &lockedBuffer{}
	logs.set(buf)
	t.Cleanup(func() {
		logs.set(nil)
		if t.Failed() {
			t.Logf("controller logs:\n%s", buf.String())
		}
	})
	skip := true
	mgr, err := ctrl.NewManager(testenv.Current(t).Config, ctrl.Options{
		Scheme:                 s,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skip},
	})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		if err := setup(mgr); err != nil {
			t.Fatal(err)
		}
	}
	if err := ack.Setup(mgr, opts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func start(t *testing.T, so startOptions) *fixture {
	t.Helper()
	env := testenv.Current(t)
	f := &fixture{t: t, accountID: ack.DefaultAccountID}
	if so.motoServer != nil {
		f.moto = so.motoServer
		f.s3srv, f.ddbsrv, f.accountID = f.moto, f.moto, acktest.MotoAccountID
		acktest.SetMotoEnv(t, f.moto)
	} else if so.moto || allOnMoto {
		f.moto = acktest.StartMoto(t)
		f.s3srv, f.ddbsrv, f.accountID = f.moto, f.moto, acktest.MotoAccountID
		acktest.SetMotoEnv(t, f.moto)
		if so.awsProxy {
			f.proxy = acktest.NewProxy(t, f.moto.Endpoint)
			t.Setenv("AWS_ENDPOINT_URL", f.proxy.Endpoint)
		}
	} else {
		f.s3srv, f.ddbsrv = acktest.StartS3(t), acktest.StartDynamoDB(t)
		acktest.SetAWSEnv(t, f.s3srv, f.ddbsrv, nil)
	}
	if so.s3Proxy {
		f.proxy = acktest.NewProxy(t, f.s3srv.Endpoint)
		t.Setenv("AWS_ENDPOINT_URL_S3", f.proxy.Endpoint)
	}
	edit := so.edit

	opts := ack.DefaultOptions()
	opts.Runtime.S3UsePathStyle = true
	opts.Runtime.NotSyncedRequeue = 200 * time.Millisecond
	if edit != nil {
		edit(&opts)
	}
	runManager(t, scheme(), opts, func(mgr ctrl.Manager) error {
		if !so.operator {
			return nil
		}
		return operator.Setup(mgr, operator.Options{InstanceWorkers: 4, RGDWorkers: 2, InstallCRDs: true})
	})

	var err error
	f.c, err = client.New(env.Config, client.Options{Scheme: scheme()})
	if err != nil {
		t.Fatal(err)
	}
	f.ns = env.Namespace(t)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The test's own clients talk to the servers directly.
	f.s3 = s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(f.s3srv.Endpoint)
	})
	f.ddb = dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(f.ddbsrv.Endpoint) })
	// Delete what the test left, with the controllers still running.
	t.Cleanup(func() { f.cleanup() })
	return f
}

func (f *fixture) cleanup() {
	ctx := context.Background()
	_ = f.c.DeleteAllOf(ctx, &s3v1alpha1.Bucket{}, client.InNamespace(f.ns))
	_ = f.c.DeleteAllOf(ctx, &dynamodbv1alpha1.Table{}, client.InNamespace(f.ns))
	f.eventually("test objects deleted", func() (bool, string) {
		var bl s3v1alpha1.BucketList
		var tl dynamodbv1alpha1.TableList
		if err := f.c.List(ctx, &bl, client.InNamespace(f.ns)); err != nil {
			return false, err.Error()
		}
		if err := f.c.List(ctx, &tl, client.InNamespace(f.ns)); err != nil {
			return false, err.Error()
		}
		for i := range bl.Items { // objects whose controller gave up (e.g. terminal)
			if len(bl.Items[i].Finalizers) > 0 && !bl.Items[i].DeletionTimestamp.IsZero() {
				b := bl.Items[i]
				b.Finalizers = nil
				_ = f.c.Update(ctx, &b)
			}
		}
		return len(bl.Items)+len(tl.Items) == 0, fmt.Sprintf("%d buckets, %d tables left", len(bl.Items), len(tl.Items))
	})
}

// eventually polls cond (bounded by a generous deadline, not a timing assertion).
func (f *fixture) eventually(what string, cond func() (bool, string)) {
	f.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	f.t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

func (f *fixture) load(file string, obj client.Object) {
	f.t.Helper()
	b, err := os.ReadFile("testdata/" + file)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, obj); err != nil {
		f.t.Fatal(err)
	}
	obj.SetNamespace(f.ns)
}

func conditionsOf(obj client.Object) *ackv1alpha1.ResourceStatus {
	switch o := obj.(type) {
	case *s3v1alpha1.Bucket:
		return &o.Status.ResourceStatus
	case *dynamodbv1alpha1.Table:
		return &o.Status.ResourceStatus
	}
	if o, ok := obj.(interface {
		ACKStatus() *ackv1alpha1.ResourceStatus
	}); ok {
		return o.ACKStatus()
	}
	panic("unknown kind")
}

func describe(st *ackv1alpha1.ResourceStatus) string {
	var parts []string
	for _, c := range st.Conditions {
		m := ""
		if c.Message != nil {
			m = *c.Message
		}
		parts = append(parts, fmt.Sprintf("%s=%s(%s)", c.Type, c.Status, m))
	}
	return strings.Join(parts, " ")
}

// waitCondition waits until obj has condition typ with status want.
func (f *fixture) waitCondition(obj client.Object, typ ackv1alpha1.ConditionType, want corev1.ConditionStatus) {
	f.t.Helper()
	f.eventually(fmt.Sprintf("%s %s=%s", obj.GetName(), typ, want), func() (bool, string) {
		if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err.Error()
		}
		st := conditionsOf(obj)
		c := st.GetCondition(typ)
		return c != nil && c.Status == want, describe(st)
	})
}

func (f *fixture) waitGone(obj client.Object) {
	f.t.Helper()
	f.eventually(obj.GetName()+" deleted", func() (bool, string) {
		err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("finalizers %v, %s", obj.GetFinalizers(), describe(conditionsOf(obj)))
	})
}

// createWithoutSpec creates a Bucket with annotations and no spec, as an
// adoption manifest does (a typed client would send an empty spec).
func (f *fixture) createWithoutSpec(b *s3v1alpha1.Bucket, annotations map[string]string) {
	f.t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(s3v1alpha1.GroupVersion.WithKind("Bucket"))
	u.SetName(b.Name)
	u.SetNamespace(b.Namespace)
	u.SetAnnotations(annotations)
	if err := f.c.Create(context.Background(), u); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) bucketExists(name string) bool {
	_, err := f.s3.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: &name})
	return err == nil
}

func (f *fixture) bucketTags(name string) map[string]string {
	out, err := f.s3.GetBucketTagging(context.Background(), &s3.GetBucketTaggingInput{Bucket: &name})
	m := map[string]string{}
	if err != nil {
		return m
	}
	for _, t := range out.TagSet {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

// 000-ack-bucket.yaml: created, synced with a real ARN, tags updated on the
// server, deleted with the CR.
func TestBucketManifest(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	b := &s3v1alpha1.Bucket{}
	f.load("000-ack-bucket.yaml", b)
	name := *b.Spec.Name
	if err := f.c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if got := b.Status.ACKResourceMetadata; got == nil || aws.ToString((*string)(got.ARN)) != "arn:aws:s3:::"+name ||
		aws.ToString((*string)(got.Region)) != acktest.Region || aws.ToString((*string)(got.OwnerAccountID)) != f.accountID {
		t.Fatalf("ackResourceMetadata %+v", got)
	}
	if c := b.Status.GetCondition(ackv1alpha1.ConditionTypeReady); c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("Ready: %s", describe(&b.Status.ResourceStatus))
	}
	if len(b.Finalizers) != 1 || b.Finalizers[0] != "finalizers.s3.services.k8s.aws/Bucket" {
		t.Fatalf("finalizers %v", b.Finalizers)
	}
	if !f.bucketExists(name) {
		t.Fatal("bucket not on the server")
	}

	// Tags in the spec reach the server.
	b.Spec.Tagging = &s3v1alpha1.Tagging{TagSet: []*s3v1alpha1.Tag{{Key: aws.String("app"), Value: aws.String("blog")}}}
	if err := f.c.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.eventually("tags on the server", func() (bool, string) {
		tags := f.bucketTags(name)
		return tags["app"] == "blog", fmt.Sprint(tags)
	})
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil {
		t.Fatal(err)
	}
	b.Spec.Tagging.TagSet[0].Value = aws.String("shop")
	if err := f.c.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.eventually("changed tags on the server", func() (bool, string) {
		tags := f.bucketTags(name)
		return tags["app"] == "shop", fmt.Sprint(tags)
	})

	if err := f.c.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitGone(b)
	if f.bucketExists(name) {
		t.Fatal("bucket still on the server after the CR was deleted")
	}
}

// deletion-policy retain leaves the bucket.
func TestBucketRetain(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	b := &s3v1alpha1.Bucket{}
	f.load("000-ack-bucket.yaml", b)
	b.Name, b.Spec.Name = "kept", aws.String("trellis-kept")
	b.Annotations = map[string]string{ackv1alpha1.AnnotationDeletionPolicy: "retain"}
	if err := f.c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if err := f.c.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitGone(b)
	if !f.bucketExists("trellis-kept") {
		t.Fatal("retained bucket was deleted")
	}
}

// The default deletion policy comes from the flag.
func TestDeletionPolicyFlag(t *testing.T) {
	f := start(t, startOptions{edit: func(o *ack.Options) { o.Runtime.DeletionPolicy = "retain" }})
	ctx := context.Background()
	tbl := &dynamodbv1alpha1.Table{}
	f.load("003-dynamodb-table-blog.yaml", tbl)
	if err := f.c.Create(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(tbl, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if err := f.c.Delete(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	f.waitGone(tbl)
	if _, err := f.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("blog")}); err != nil {
		t.Fatalf("retained table: %v", err)
	}
}

// 003-dynamodb-table-blog.yaml: CREATING, then ACTIVE and synced with
// dynalite's ARN; billing mode change reaches the server; delete waits for
// the table to be gone.
func TestTableManifest(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	tbl := &dynamodbv1alpha1.Table{}
	f.load("003-dynamodb-table-blog.yaml", tbl)
	if err := f.c.Create(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(tbl, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	arn := aws.ToString((*string)(tbl.Status.ACKResourceMetadata.ARN))
	if !strings.HasPrefix(arn, "arn:aws:dynamodb:us-east-1:") || !strings.HasSuffix(arn, ":table/blog") {
		t.Fatalf("ARN %q", arn)
	}
	if aws.ToString(tbl.Status.TableStatus) != "ACTIVE" || tbl.Status.CreationDateTime == nil {
		t.Fatalf("status %+v", tbl.Status)
	}
	if len(tbl.Finalizers) != 1 || tbl.Finalizers[0] != "finalizers.dynamodb.services.k8s.aws/Table" {
		t.Fatalf("finalizers %v", tbl.Finalizers)
	}

	tbl.Spec.BillingMode = aws.String("PROVISIONED")
	tbl.Spec.ProvisionedThroughput = &dynamodbv1alpha1.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(3), WriteCapacityUnits: aws.Int64(4)}
	tbl.Spec.Tags = []*dynamodbv1alpha1.Tag{{Key: aws.String("team"), Value: aws.String("blog")}}
	if err := f.c.Update(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	f.eventually("PROVISIONED on the server", func() (bool, string) {
		out, err := f.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("blog")})
		if err != nil {
			return false, err.Error()
		}
		bm := out.Table.BillingModeSummary
		ok := bm != nil && bm.BillingMode == "PROVISIONED" && aws.ToInt64(out.Table.ProvisionedThroughput.WriteCapacityUnits) == 4
		return ok, fmt.Sprintf("%+v", bm)
	})
	f.eventually("tags on the server", func() (bool, string) {
		out, err := f.ddb.ListTagsOfResource(ctx, &dynamodb.ListTagsOfResourceInput{ResourceArn: &arn})
		if err != nil {
			return false, err.Error()
		}
		return len(out.Tags) == 1 && aws.ToString(out.Tags[0].Value) == "blog", fmt.Sprint(out.Tags)
	})
	f.waitCondition(tbl, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)

	if err := f.c.Delete(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	f.waitGone(tbl)
	if _, err := f.ddb.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("blog")}); err == nil {
		t.Fatal("table still on the server")
	}
}

type bucketState struct {
	tags       map[string]string
	versioning string
	policy     string
}

func (f *fixture) bucketState(name string) bucketState {
	ctx := context.Background()
	st := bucketState{tags: f.bucketTags(name)}
	if v, err := f.s3.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: &name}); err == nil {
		st.versioning = string(v.Status)
	}
	if p, err := f.s3.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: &name}); err == nil {
		st.policy = aws.ToString(p.Policy)
	}
	return st
}

// The S3BucketAdopt RGD's Bucket: read-only adoption of an existing bucket
// fills the status and changes nothing on the server, nor on deletion.
func TestAdoptReadOnly(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	name := "krmops-s3adopt-123456789012"
	if _, err := f.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: &name, Tagging: &s3types.Tagging{
		TagSet: []s3types.Tag{{Key: aws.String("owner"), Value: aws.String("someone-else")}}}}); err != nil {
		t.Fatal(err)
	}
	before := f.bucketState(name)

	// The RGD template, rendered for spec.name = name: no spec at all.
	b := &s3v1alpha1.Bucket{}
	b.Name, b.Namespace = name, f.ns
	f.createWithoutSpec(b, map[string]string{
		ackv1alpha1.AnnotationReadOnly:       "true",
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: "{\n  \"name\": \"" + name + "\"\n}\n",
	})
	f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if got := aws.ToString((*string)(b.Status.ACKResourceMetadata.ARN)); got != "arn:aws:s3:::"+name {
		t.Fatalf("ARN %q", got)
	}
	if b.Annotations[ackv1alpha1.AnnotationAdopted] != "true" {
		t.Fatalf("annotations %v", b.Annotations)
	}
	if after := f.bucketState(name); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("server changed: before %+v, after %+v", before, after)
	}
	if err := f.c.Delete(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitGone(b)
	if !f.bucketExists(name) {
		t.Fatal("read-only bucket deleted")
	}
	if after := f.bucketState(name); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("server changed on delete: before %+v, after %+v", before, after)
	}
}

// adopt (not read-only) takes the observed state into the spec and manages
// the bucket from then on.
func TestAdoptManaged(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	name := "trellis-adopted"
	if _, err := f.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: &name, Tagging: &s3types.Tagging{
		TagSet: []s3types.Tag{{Key: aws.String("team"), Value: aws.String("data")}}}}); err != nil {
		t.Fatal(err)
	}
	b := &s3v1alpha1.Bucket{}
	b.Name, b.Namespace = "adopted", f.ns
	f.createWithoutSpec(b, map[string]string{
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: `{"name":"` + name + `"}`,
	})
	f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if aws.ToString(b.Spec.Name) != name || b.Annotations[ackv1alpha1.AnnotationAdopted] != "true" {
		t.Fatalf("spec %+v annotations %v", b.Spec, b.Annotations)
	}
	// The observed state became the spec: tags yes, nothing unconfigured.
	if b.Spec.Tagging == nil || len(b.Spec.Tagging.TagSet) != 1 || aws.ToString(b.Spec.Tagging.TagSet[0].Value) != "data" ||
		b.Spec.Versioning != nil || b.Spec.Policy != nil {
		t.Fatalf("adopted spec %+v", b.Spec)
	}
	// From now on the spec rules: a tag change reaches the server.
	b.Spec.Tagging.TagSet[0].Value = aws.String("analytics")
	if err := f.c.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.eventually("tag change on the adopted bucket", func() (bool, string) {
		tags := f.bucketTags(name)
		return tags["team"] == "analytics", fmt.Sprint(tags)
	})
	// A bucket that exists but was neither created nor adopted by trellis.
	other := &s3v1alpha1.Bucket{}
	other.Name, other.Namespace, other.Spec.Name = "unmanaged", f.ns, aws.String(name)
	if err := f.c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(other, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if c := other.Status.GetCondition(ackv1alpha1.ConditionTypeTerminal); aws.ToString(c.Message) != "Resource already exists" {
		t.Fatalf("terminal message %q", aws.ToString(c.Message))
	}
}

// An invalid bucket name: ACK.Terminal with S3's message, and no retries.
func TestInvalidBucketName(t *testing.T) {
	f := start(t, startOptions{s3Proxy: true})
	ctx := context.Background()
	b := &s3v1alpha1.Bucket{}
	b.Name, b.Namespace, b.Spec.Name = "invalid", f.ns, aws.String("Invalid_Bucket_Name")
	if err := f.c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(b, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	msg := aws.ToString(b.Status.GetCondition(ackv1alpha1.ConditionTypeTerminal).Message)
	if !strings.Contains(msg, "InvalidBucketName") || !strings.Contains(msg, "The specified bucket is not valid") {
		t.Fatalf("terminal message %q", msg)
	}
	if c := b.Status.GetCondition(ackv1alpha1.ConditionTypeResourceSynced); c == nil || c.Status != corev1.ConditionFalse {
		t.Fatalf("synced: %s", describe(&b.Status.ResourceStatus))
	}
	if len(b.Finalizers) != 0 {
		t.Fatalf("finalizer left after a failed create: %v", b.Finalizers)
	}
	// No retry storm: a terminal resource is not requeued, so the request
	// count stays put (a handful of loops would show in these seconds; the
	// not-synced requeue here is 200ms).
	n := f.proxy.Count()
	time.Sleep(3 * time.Second)
	if m := f.proxy.Count(); m != n {
		t.Fatalf("%d more S3 requests after the terminal error", m-n)
	}
	// A spec change is what triggers the next attempt.
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(b), b); err != nil {
		t.Fatal(err)
	}
	b.Spec.Tagging = &s3v1alpha1.Tagging{TagSet: []*s3v1alpha1.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}
	if err := f.c.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.eventually("a new attempt after the spec change", func() (bool, string) {
		return f.proxy.Count() > n, fmt.Sprint(f.proxy.Count())
	})
}

// The S3 endpoint down: ACK.Recoverable, retried with backoff, synced once
// the server is back.
func TestEndpointDown(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	f.s3srv.Stop()
	b := &s3v1alpha1.Bucket{}
	f.load("000-ack-bucket.yaml", b)
	if err := f.c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(b, ackv1alpha1.ConditionTypeRecoverable, corev1.ConditionTrue)
	if c := b.Status.GetCondition(ackv1alpha1.ConditionTypeResourceSynced); c == nil || c.Status != corev1.ConditionUnknown {
		t.Fatalf("synced: %s", describe(&b.Status.ResourceStatus))
	}
	if c := b.Status.GetCondition(ackv1alpha1.ConditionTypeReady); c == nil || c.Status != corev1.ConditionFalse || aws.ToString(c.Reason) != "ACK.Recoverable" {
		t.Fatalf("ready: %s", describe(&b.Status.ResourceStatus))
	}
	f.s3srv.Start()
	f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if c := b.Status.GetCondition(ackv1alpha1.ConditionTypeRecoverable); c == nil || c.Status != corev1.ConditionFalse {
		t.Fatalf("recoverable not cleared: %s", describe(&b.Status.ResourceStatus))
	}
	if !f.bucketExists(*b.Spec.Name) {
		t.Fatal("bucket not created after recovery")
	}
}

// A field of ACK's Table that trellis does not implement is kept by the API
// server and reported as ACK.Terminal naming it; nothing is created.
func TestUnsupportedField(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	u := map[string]any{}
	b, err := os.ReadFile("testdata/003-dynamodb-table-blog.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	u["spec"].(map[string]any)["timeToLive"] = map[string]any{"attributeName": "expires", "enabled": true}
	obj := &unstructured.Unstructured{Object: u}
	obj.SetNamespace(f.ns)
	if err := f.c.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	tbl := &dynamodbv1alpha1.Table{}
	tbl.Name, tbl.Namespace = obj.GetName(), f.ns
	f.waitCondition(tbl, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if msg := aws.ToString(tbl.Status.GetCondition(ackv1alpha1.ConditionTypeTerminal).Message); !strings.Contains(msg, "spec.timeToLive") {
		t.Fatalf("terminal message %q does not name the field", msg)
	}
	out, err := f.ddb.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TableNames) != 0 {
		t.Fatalf("tables created: %v", out.TableNames)
	}
}

// Drift on the server is corrected on resync.
func TestDriftCorrectedOnResync(t *testing.T) {
	f := start(t, startOptions{edit: func(o *ack.Options) { o.Runtime.ResyncPeriod = time.Second }})
	ctx := context.Background()
	b := &s3v1alpha1.Bucket{}
	f.load("000-ack-bucket.yaml", b)
	b.Spec.Tagging = &s3v1alpha1.Tagging{TagSet: []*s3v1alpha1.Tag{{Key: aws.String("app"), Value: aws.String("blog")}}}
	if err := f.c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if _, err := f.s3.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b.Spec.Name, Tagging: &s3types.Tagging{
		TagSet: []s3types.Tag{{Key: aws.String("app"), Value: aws.String("changed-by-hand")}}}}); err != nil {
		t.Fatal(err)
	}
	f.eventually("tags restored from the spec", func() (bool, string) {
		tags := f.bucketTags(*b.Spec.Name)
		return tags["app"] == "blog" && len(tags) == 1, fmt.Sprint(tags)
	})
}

// The region annotation selects the region; it cannot change afterwards.
// billingMode, left out of the spec, is late-initialised from the server.
func TestRegionAnnotationAndLateInit(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	tbl := &dynamodbv1alpha1.Table{}
	f.load("003-dynamodb-table-blog.yaml", tbl)
	tbl.Annotations = map[string]string{ackv1alpha1.AnnotationRegion: "eu-west-1"}
	tbl.Spec.BillingMode = nil
	tbl.Spec.ProvisionedThroughput = &dynamodbv1alpha1.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(1), WriteCapacityUnits: aws.Int64(1)}
	if err := f.c.Create(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(tbl, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	md := tbl.Status.ACKResourceMetadata
	// (dynalite puts us-east-1 in every ARN, so only the region is checked.)
	if aws.ToString((*string)(md.Region)) != "eu-west-1" {
		t.Fatalf("metadata region %v", aws.ToString((*string)(md.Region)))
	}
	// Changing the region afterwards is refused: no move, no condition change.
	tbl.Annotations[ackv1alpha1.AnnotationRegion] = "us-west-2"
	tbl.Spec.Tags = []*dynamodbv1alpha1.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
	if err := f.c.Update(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(tbl), tbl); err != nil {
		t.Fatal(err)
	}
	if aws.ToString((*string)(tbl.Status.ACKResourceMetadata.Region)) != "eu-west-1" {
		t.Fatalf("region moved: %v", aws.ToString((*string)(tbl.Status.ACKResourceMetadata.Region)))
	}
	arn := aws.ToString((*string)(md.ARN))
	if out, err := f.ddb.ListTagsOfResource(ctx, &dynamodb.ListTagsOfResourceInput{ResourceArn: &arn}); err != nil || len(out.Tags) != 0 {
		t.Fatalf("table changed after a region change: %v %v", out, err)
	}
	tbl.Annotations[ackv1alpha1.AnnotationRegion] = "eu-west-1"
	if err := f.c.Update(ctx, tbl); err != nil {
		t.Fatal(err)
	}
	f.eventually("billingMode late-initialised", func() (bool, string) {
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(tbl), tbl); err != nil {
			return false, err.Error()
		}
		return aws.ToString(tbl.Spec.BillingMode) == "PROVISIONED", fmt.Sprint(tbl.Spec.BillingMode)
	})
}

// adopt-or-create: an existing bucket is adopted and then made to match
// the spec; a missing one is created.
func TestAdoptOrCreate(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	name := "trellis-adopt-or-create"
	if _, err := f.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatal(err)
	}
	for _, bucket := range []string{name, "trellis-created-instead"} {
		b := &s3v1alpha1.Bucket{}
		b.Name, b.Namespace, b.Spec.Name = bucket, f.ns, aws.String(bucket)
		b.Annotations = map[string]string{ackv1alpha1.AnnotationAdoptionPolicy: "adopt-or-create"}
		b.Spec.Tagging = &s3v1alpha1.Tagging{TagSet: []*s3v1alpha1.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}}
		if err := f.c.Create(ctx, b); err != nil {
			t.Fatal(err)
		}
		f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
		f.eventually(bucket+" tagged", func() (bool, string) {
			tags := f.bucketTags(bucket)
			return tags["env"] == "dev", fmt.Sprint(tags)
		})
		if bucket == name && b.Annotations[ackv1alpha1.AnnotationAdopted] != "true" {
			t.Fatalf("annotations %v", b.Annotations)
		}
	}
}

// A bad adoption policy is terminal.
func TestBadAdoptionPolicy(t *testing.T) {
	f := start(t, startOptions{})
	b := &s3v1alpha1.Bucket{}
	b.Name, b.Namespace, b.Spec.Name = "bad-policy", f.ns, aws.String("trellis-bad-policy")
	b.Annotations = map[string]string{ackv1alpha1.AnnotationAdoptionPolicy: "take-it"}
	if err := f.c.Create(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(b, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if f.bucketExists("trellis-bad-policy") {
		t.Fatal("bucket created despite the bad policy")
	}
}

// A cluster with ACK's own CRDs gets trellis's on start (upgrade in place),
// and the result is established and keeps ACK's fields.
func TestInstallCRDsOverACKs(t *testing.T) {
	env := testenv.Current(t)
	ctx := context.Background()
	s := runtime.NewScheme()
	_ = apiextv1.AddToScheme(s)
	c, err := client.New(env.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("crdgen/testdata/s3.services.k8s.aws_buckets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	acks := &apiextv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(b, acks); err != nil {
		t.Fatal(err)
	}
	existing := &apiextv1.CustomResourceDefinition{}
	err = c.Get(ctx, client.ObjectKey{Name: acks.Name}, existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := c.Create(ctx, acks); err != nil {
			t.Fatal(err)
		}
	case err != nil:
		t.Fatal(err)
	default:
		existing.Spec = acks.Spec
		existing.Labels = nil
		if err := c.Update(ctx, existing); err != nil {
			t.Fatal(err)
		}
	}
	if err := ack.InstallCRDs(ctx, env.Config, []string{acks.Name}, time.Minute); err != nil {
		t.Fatal(err)
	}
	got := &apiextv1.CustomResourceDefinition{}
	if err := c.Get(ctx, client.ObjectKey{Name: acks.Name}, got); err != nil {
		t.Fatal(err)
	}
	spec := got.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	if got.Labels["app.kubernetes.io/managed-by"] != "trellis" {
		t.Fatalf("labels %v", got.Labels)
	}
	if _, ok := spec.Properties["tags"]; !ok {
		t.Fatal("trellis's schema not installed")
	}
	if w := spec.Properties["website"]; w.XPreserveUnknownFields == nil || !*w.XPreserveUnknownFields {
		t.Fatalf("ACK's website field not kept: %+v", w)
	}
	// A restart installs the same CRD again: that must write nothing.
	before := crdWrites(ctx, t, env)
	if err := ack.InstallCRDs(ctx, env.Config, []string{acks.Name}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if w := crdWrites(ctx, t, env).Sub(before); w.Total() != 0 {
		t.Fatalf("installing an unchanged CRD wrote %v", w.Breakdown())
	}
}

// crdWrites reads the API server's count of CRD writes (dry runs excluded).
func crdWrites(ctx context.Context, t *testing.T, env *testenv.Env) bench.Requests {
	t.Helper()
	raw, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	samples, err := bench.ParseMetric(bytes.NewReader(raw), "apiserver_request_total")
	if err != nil {
		t.Fatal(err)
	}
	return bench.RequestsFromSamples(samples).Mutating().Resources("customresourcedefinitions")
}

// Adopting a bucket that does not exist yet is retried until it appears.
func TestAdoptWaitsForResource(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	name := "trellis-later"
	b := &s3v1alpha1.Bucket{}
	b.Name, b.Namespace = name, f.ns
	f.createWithoutSpec(b, map[string]string{
		ackv1alpha1.AnnotationReadOnly:       "true",
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: `{"name":"` + name + `"}`,
	})
	f.waitCondition(b, ackv1alpha1.ConditionTypeRecoverable, corev1.ConditionTrue)
	if msg := aws.ToString(b.Status.GetCondition(ackv1alpha1.ConditionTypeRecoverable).Message); msg != "adopted resource not found" {
		t.Fatalf("message %q", msg)
	}
	if f.bucketExists(name) {
		t.Fatal("adoption created the bucket")
	}
	if _, err := f.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	f.waitCondition(b, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if b.Annotations[ackv1alpha1.AnnotationAdopted] != "true" {
		t.Fatalf("annotations %v", b.Annotations)
	}
}

// A Table adopted by name gets its whole spec from DynamoDB.
func TestAdoptTable(t *testing.T) {
	f := start(t, startOptions{})
	ctx := context.Background()
	_, err := f.ddb.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("legacy"),
		BillingMode:          "PAY_PER_REQUEST",
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: "HASH"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(dynamodbv1alpha1.GroupVersion.WithKind("Table"))
	u.SetName("legacy")
	u.SetNamespace(f.ns)
	u.SetAnnotations(map[string]string{
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: `{"tableName":"legacy"}`,
	})
	if err := f.c.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	tbl := &dynamodbv1alpha1.Table{}
	tbl.Name, tbl.Namespace = "legacy", f.ns
	f.waitCondition(tbl, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	s := tbl.Spec
	if aws.ToString(s.TableName) != "legacy" || aws.ToString(s.BillingMode) != "PAY_PER_REQUEST" || len(s.KeySchema) != 1 ||
		aws.ToString(s.KeySchema[0].AttributeName) != "pk" || len(s.AttributeDefinitions) != 1 {
		t.Fatalf("adopted spec %+v", s)
	}
	if !strings.HasSuffix(aws.ToString((*string)(tbl.Status.ACKResourceMetadata.ARN)), ":table/legacy") {
		t.Fatalf("status %+v", tbl.Status.ACKResourceMetadata)
	}
}
