package ack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/rds"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	rdsv1alpha1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// rdsProxy is the acktest proxy between the controllers and moto's RDS
// API (it records every action), taught two things moto does not do: it
// can rewrite an instance's "available" into a transitional status (moto
// answers available at once), and can answer DescribeDBInstances with
// "deleting" for a while after a delete (moto forgets the instance at once).
type rdsProxy struct {
	*acktest.Proxy

	mu sync.Mutex
	// status, when set, replaces DBInstanceStatus "available" in answers.
	status string
	// deletingAnswers is how many DescribeDBInstances after a
	// DeleteDBInstance are answered with the last description, deleting.
	deletingAnswers int
	deletingLeft    int
	lastDescribe    []byte
}

func newRDSProxy(t *testing.T, target string) *rdsProxy {
	t.Helper()
	p := &rdsProxy{Proxy: acktest.NewProxy(t, target)}
	p.Answer(func(c acktest.Call) ([]byte, bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if c.Op == "DeleteDBInstance" {
			p.deletingLeft = p.deletingAnswers
		}
		if c.Op == "DescribeDBInstances" && p.deletingLeft > 0 && p.lastDescribe != nil {
			p.deletingLeft--
			return statusRE(p.lastDescribe, "deleting"), true
		}
		return nil, false
	})
	p.Rewrite(func(c acktest.Call, out []byte) []byte {
		p.mu.Lock()
		defer p.mu.Unlock()
		if c.Op == "DescribeDBInstances" {
			p.lastDescribe = out
		}
		if p.status != "" {
			out = statusRE(out, p.status)
		}
		return out
	})
	return p
}

func statusRE(b []byte, status string) []byte {
	return bytes.ReplaceAll(b, []byte("<DBInstanceStatus>available</DBInstanceStatus>"),
		[]byte("<DBInstanceStatus>"+status+"</DBInstanceStatus>"))
}

func (p *rdsProxy) setStatus(s string) {
	p.mu.Lock()
	p.status = s
	p.mu.Unlock()
}

// rdsWorld is a fixture on moto with RDS behind an rdsProxy, plus a VPC
// with two subnets and a security group made directly in moto.
type rdsWorld struct {
	*fixture
	proxy   *rdsProxy
	rds     *rds.Client
	ec2     *ec2.Client
	vpc     string
	subnets []string
	sg      string
}

func startRDS(t *testing.T, edit func(*ack.Options)) *rdsWorld {
	t.Helper()
	moto := acktest.StartMoto(t)
	p := newRDSProxy(t, moto.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL_RDS", p.Endpoint)
	f := start(t, startOptions{motoServer: moto, edit: edit})
	w := &rdsWorld{fixture: f, proxy: p}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.rds = rds.NewFromConfig(cfg, func(o *rds.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) })
	w.ec2 = ec2.NewFromConfig(cfg)
	ctx := context.Background()
	vpc, err := w.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	w.vpc = *vpc.Vpc.VpcId
	for i, az := range []string{"a", "b"} {
		s, err := w.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &w.vpc, CidrBlock: aws.String(fmt.Sprintf("10.0.%d.0/24", i+1)), AvailabilityZone: aws.String(acktest.Region + az)})
		if err != nil {
			t.Fatal(err)
		}
		w.subnets = append(w.subnets, *s.Subnet.SubnetId)
	}
	sg, err := w.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("db"), Description: aws.String("db"), VpcId: &w.vpc})
	if err != nil {
		t.Fatal(err)
	}
	w.sg = *sg.GroupId
	// Registered after start's cleanups, so it runs first, while the
	// controllers still run: instances before subnet groups.
	t.Cleanup(w.cleanupRDS)
	return w
}

func (w *rdsWorld) cleanupRDS() {
	ctx := context.Background()
	for _, l := range []client.ObjectList{&rdsv1alpha1.DBInstanceList{}, &rdsv1alpha1.DBSubnetGroupList{}} {
		var obj client.Object = &rdsv1alpha1.DBInstance{}
		if _, ok := l.(*rdsv1alpha1.DBSubnetGroupList); ok {
			obj = &rdsv1alpha1.DBSubnetGroup{}
		}
		_ = w.c.DeleteAllOf(ctx, obj, client.InNamespace(w.ns))
		w.eventually("rds test objects deleted", func() (bool, string) {
			if err := w.c.List(ctx, l, client.InNamespace(w.ns)); err != nil {
				return false, err.Error()
			}
			var n int
			switch l := l.(type) {
			case *rdsv1alpha1.DBInstanceList:
				n = len(l.Items)
				for i := range l.Items { // objects whose controller gave up (terminal)
					if age := time.Since(l.Items[i].DeletionTimestamp.Time); l.Items[i].DeletionTimestamp != nil && age > 10*time.Second {
						o := l.Items[i]
						o.Finalizers = nil
						_ = w.c.Update(ctx, &o)
					}
				}
			case *rdsv1alpha1.DBSubnetGroupList:
				n = len(l.Items)
			}
			return n == 0, fmt.Sprintf("%d left", n)
		})
	}
}

func (w *rdsWorld) subnetGroup(name string) *rdsv1alpha1.DBSubnetGroup {
	return &rdsv1alpha1.DBSubnetGroup{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns},
		Spec: rdsv1alpha1.DBSubnetGroupSpec{
			Name: aws.String(name), Description: aws.String("db test"),
			SubnetIDs: []*string{aws.String(w.subnets[0]), aws.String(w.subnets[1])},
		},
	}
}

// seedInstance is the DBInstance of the seed rds RGD (000-rds-rgd.yaml).
func (w *rdsWorld) seedInstance(id, subnetGroup string) *rdsv1alpha1.DBInstance {
	return &rdsv1alpha1.DBInstance{
		ObjectMeta: metav1.ObjectMeta{Name: id, Namespace: w.ns},
		Spec: rdsv1alpha1.DBInstanceSpec{
			ManageMasterUserPassword: aws.Bool(true),
			MasterUsername:           aws.String("testUser"),
			AllocatedStorage:         aws.Int64(10),
			DBInstanceClass:          aws.String("db.t4g.micro"),
			DBInstanceIdentifier:     aws.String(id),
			Engine:                   aws.String("mysql"),
			EngineVersion:            aws.String("8.0"),
			DBSubnetGroupName:        aws.String(subnetGroup),
			VPCSecurityGroupIDs:      []*string{aws.String(w.sg)},
		},
	}
}

func (w *rdsWorld) describe(id string) (*rdstypes.DBInstance, error) {
	out, err := w.rds.DescribeDBInstances(context.Background(), &rds.DescribeDBInstancesInput{DBInstanceIdentifier: &id})
	if err != nil {
		return nil, err
	}
	return &out.DBInstances[0], nil
}

func (w *rdsWorld) get(obj client.Object) {
	w.t.Helper()
	if err := w.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		w.t.Fatal(err)
	}
}

// update re-reads obj, applies change and writes it, retrying conflicts.
func (w *rdsWorld) update(obj client.Object, change func()) {
	w.t.Helper()
	w.eventually("update "+obj.GetName(), func() (bool, string) {
		if err := w.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err.Error()
		}
		change()
		if err := w.c.Update(context.Background(), obj); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

func condMsg(st *ackv1alpha1.ResourceStatus, t ackv1alpha1.ConditionType) string {
	if c := st.GetCondition(t); c != nil && c.Message != nil {
		return *c.Message
	}
	return ""
}

// The seed rds RGD's DBSubnetGroup and DBInstance on moto: created,
// synced with ARNs, endpoint and the managed master-user secret; updated
// with ModifyDBInstance; no AWS writes while nothing changes; immutable
// fields refused; deleted, instance first.
func TestRDSSeedInstance(t *testing.T) {
	w := startRDS(t, func(o *ack.Options) { o.Runtime.ResyncPeriod = 300 * time.Millisecond })
	ctx := context.Background()

	g := w.subnetGroup("db-sb-webapp")
	g.Spec.Tags = []*rdsv1alpha1.Tag{{Key: aws.String("app"), Value: aws.String("webapp")}}
	if err := w.c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(g, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if aws.ToString(g.Status.VPCID) != w.vpc || len(g.Status.Subnets) != 2 || aws.ToString(g.Status.SubnetGroupStatus) != "Complete" {
		t.Fatalf("subnet group status %+v", g.Status)
	}
	wantARN := fmt.Sprintf("arn:aws:rds:%s:%s:subgrp:db-sb-webapp", acktest.Region, acktest.MotoAccountID)
	if md := g.Status.ACKResourceMetadata; md == nil || string(*md.ARN) != wantARN || string(*md.OwnerAccountID) != acktest.MotoAccountID {
		t.Fatalf("ackResourceMetadata %+v", md)
	}
	if g.Finalizers[0] != "finalizers.rds.services.k8s.aws/DBSubnetGroup" {
		t.Fatalf("finalizers %v", g.Finalizers)
	}

	db := w.seedInstance("webapp-db-dev", "db-sb-webapp")
	if err := w.c.Create(ctx, db); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(db, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	st := db.Status
	if aws.ToString(st.DBInstanceStatus) != "available" || st.Endpoint == nil || aws.ToString(st.Endpoint.Address) == "" || aws.ToInt64(st.Endpoint.Port) != 3306 {
		t.Fatalf("status %+v endpoint %+v", st.DBInstanceStatus, st.Endpoint)
	}
	if st.MasterUserSecret == nil || !strings.HasPrefix(aws.ToString(st.MasterUserSecret.SecretARN), "arn:aws:secretsmanager:") {
		t.Fatalf("masterUserSecret %+v", st.MasterUserSecret)
	}
	if md := st.ACKResourceMetadata; md == nil || string(*md.ARN) != fmt.Sprintf("arn:aws:rds:%s:%s:db:webapp-db-dev", acktest.Region, acktest.MotoAccountID) {
		t.Fatalf("ackResourceMetadata %+v", md)
	}
	if st.DBSubnetGroup == nil || aws.ToString(st.DBSubnetGroup.VPCID) != w.vpc || len(st.VPCSecurityGroups) != 1 || aws.ToString(st.VPCSecurityGroups[0].VPCSecurityGroupID) != w.sg {
		t.Fatalf("subnet group %+v, security groups %+v", st.DBSubnetGroup, st.VPCSecurityGroups)
	}
	// Late initialisation: RDS's placement and windows are in the spec.
	w.eventually("late-initialised spec", func() (bool, string) {
		w.get(db)
		return db.Spec.AvailabilityZone != nil && db.Spec.PreferredBackupWindow != nil, fmt.Sprint(db.Spec.AvailabilityZone)
	})

	// Synced and unchanged: resyncs read, and write nothing.
	before := w.proxy.Writes()
	reads := w.proxy.CountOp("DescribeDBInstances")
	w.eventually("several resyncs", func() (bool, string) {
		n := w.proxy.CountOp("DescribeDBInstances")
		return n >= reads+5, fmt.Sprint(n)
	})
	if after := w.proxy.Writes(); len(after) != len(before) {
		t.Fatalf("AWS writes while nothing changed: %v", after[len(before):])
	}

	// An update goes out as one ModifyDBInstance, applied immediately.
	w.update(db, func() {
		db.Spec.AllocatedStorage = aws.Int64(20)
		db.Spec.BackupRetentionPeriod = aws.Int64(3)
		db.Spec.Tags = []*rdsv1alpha1.Tag{{Key: aws.String("team"), Value: aws.String("db")}}
	})
	w.eventually("modified in RDS", func() (bool, string) {
		d, err := w.describe("webapp-db-dev")
		if err != nil {
			return false, err.Error()
		}
		return aws.ToInt32(d.AllocatedStorage) == 20 && aws.ToInt32(d.BackupRetentionPeriod) == 3 && len(d.TagList) == 1,
			fmt.Sprint(aws.ToInt32(d.AllocatedStorage), aws.ToInt32(d.BackupRetentionPeriod), d.TagList)
	})
	if f := w.proxy.Form("ModifyDBInstance"); f.Get("ApplyImmediately") != "true" || f.Get("AllocatedStorage") != "20" {
		t.Fatalf("ModifyDBInstance %v", f)
	}

	// A changed engine cannot be applied: Terminal, naming the field.
	w.update(db, func() { db.Spec.Engine = aws.String("postgres") })
	w.waitCondition(db, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if m := condMsg(&db.Status.ResourceStatus, ackv1alpha1.ConditionTypeTerminal); !strings.Contains(m, "spec.engine") {
		t.Fatalf("terminal message %q", m)
	}
	w.update(db, func() { db.Spec.Engine = aws.String("mysql") })
	w.waitCondition(db, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionFalse)
	w.waitCondition(db, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)

	// Deleted without a final snapshot; then the subnet group.
	if err := w.c.Delete(ctx, db); err != nil {
		t.Fatal(err)
	}
	w.waitGone(db)
	if f := w.proxy.Form("DeleteDBInstance"); f.Get("SkipFinalSnapshot") != "true" {
		t.Fatalf("DeleteDBInstance %v", f)
	}
	if _, err := w.describe("webapp-db-dev"); err == nil {
		t.Fatal("instance still in RDS")
	}
	if err := w.c.Delete(ctx, g); err != nil {
		t.Fatal(err)
	}
	w.waitGone(g)
	if _, err := w.rds.DescribeDBSubnetGroups(ctx, &rds.DescribeDBSubnetGroupsInput{DBSubnetGroupName: aws.String("db-sb-webapp")}); err == nil {
		t.Fatal("subnet group still in RDS")
	}
}

// Transitional states, made by the proxy (moto answers available at once):
// not synced while creating; an update waits while modifying and is sent
// once available; the delete waits while deleting, without a second call.
func TestRDSTransitionalStates(t *testing.T) {
	// A short resync: a synced instance must be read again to see "failed".
	w := startRDS(t, func(o *ack.Options) { o.Runtime.ResyncPeriod = 300 * time.Millisecond })
	ctx := context.Background()
	w.proxy.setStatus("creating")
	db := w.seedInstance("states-db", "")
	db.Spec.DBSubnetGroupName = nil
	if err := w.c.Create(ctx, db); err != nil {
		t.Fatal(err)
	}
	w.eventually("creating, not synced", func() (bool, string) {
		w.get(db)
		c := db.Status.GetCondition(ackv1alpha1.ConditionTypeResourceSynced)
		return aws.ToString(db.Status.DBInstanceStatus) == "creating" && c != nil && c.Status == corev1.ConditionFalse &&
			c.Reason != nil && *c.Reason == "DB instance is creating", describe(&db.Status.ResourceStatus)
	})
	w.proxy.setStatus("backing-up")
	w.eventually("backing-up, not synced", func() (bool, string) {
		w.get(db)
		c := db.Status.GetCondition(ackv1alpha1.ConditionTypeResourceSynced)
		return aws.ToString(db.Status.DBInstanceStatus) == "backing-up" && c != nil && c.Status == corev1.ConditionFalse, describe(&db.Status.ResourceStatus)
	})

	w.proxy.setStatus("modifying")
	w.update(db, func() { db.Spec.AllocatedStorage = aws.Int64(30) })
	w.eventually("update waiting for available", func() (bool, string) {
		w.get(db)
		c := db.Status.GetCondition(ackv1alpha1.ConditionTypeResourceSynced)
		return c != nil && c.Status == corev1.ConditionFalse && c.Reason != nil &&
			strings.Contains(*c.Reason, "cannot be modified until 'available'"), describe(&db.Status.ResourceStatus)
	})
	if n := w.proxy.CountOp("ModifyDBInstance"); n != 0 {
		t.Fatalf("%d ModifyDBInstance calls while modifying", n)
	}
	w.proxy.setStatus("")
	w.waitCondition(db, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if d, err := w.describe("states-db"); err != nil || aws.ToInt32(d.AllocatedStorage) != 30 {
		t.Fatalf("after available: %v %v", d, err)
	}

	// Terminal statuses never converge.
	w.proxy.setStatus("failed")
	w.waitCondition(db, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	w.proxy.setStatus("")

	w.proxy.mu.Lock()
	w.proxy.deletingAnswers = 3
	w.proxy.mu.Unlock()
	if err := w.c.Delete(ctx, db); err != nil {
		t.Fatal(err)
	}
	w.waitGone(db)
	if n := w.proxy.CountOp("DeleteDBInstance"); n != 1 {
		t.Fatalf("%d DeleteDBInstance calls, want 1", n)
	}
	w.proxy.mu.Lock()
	left := w.proxy.deletingLeft
	w.proxy.mu.Unlock()
	if left != 0 {
		t.Fatalf("the finalizer went before the instance stopped deleting (%d deleting answers left)", left)
	}
}

// masterUserPassword comes from a Kubernetes Secret key and the subnet
// group from a dbSubnetGroupRef. Until both exist nothing is created; the
// password reaches RDS and never the custom resource.
func TestRDSSecretPasswordAndSubnetGroupRef(t *testing.T) {
	w := startRDS(t, nil)
	ctx := context.Background()
	db := w.seedInstance("secret-db", "")
	db.Spec.DBSubnetGroupName = nil
	db.Spec.DBSubnetGroupRef = &ackv1alpha1.ResourceReference{From: &ackv1alpha1.NamespacedName{Name: aws.String("group")}}
	db.Spec.ManageMasterUserPassword = nil
	db.Spec.MasterUserPassword = &ackv1alpha1.SecretKeyReference{Name: "db-password", Key: "password"}
	if err := w.c.Create(ctx, db); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(db, ackv1alpha1.ConditionTypeReferencesResolved, corev1.ConditionUnknown)
	if c := db.Status.GetCondition(ackv1alpha1.ConditionTypeReferencesResolved); c.Reason == nil || !strings.Contains(*c.Reason, "DBSubnetGroup") {
		t.Fatalf("ReferencesResolved %s", describe(&db.Status.ResourceStatus))
	}
	g := w.subnetGroup("group")
	g.Spec.Name = aws.String("db-sb-ref")
	if err := w.c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(g, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	// Now the Secret is what is missing.
	w.eventually("waiting for the Secret", func() (bool, string) {
		w.get(db)
		m := condMsg(&db.Status.ResourceStatus, ackv1alpha1.ConditionTypeRecoverable)
		return strings.Contains(m, "Secret") && strings.Contains(m, "db-password"), describe(&db.Status.ResourceStatus)
	})
	if n := w.proxy.CountOp("CreateDBInstance"); n != 0 {
		t.Fatalf("created before its references resolved (%d calls)", n)
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-password", Namespace: w.ns}, StringData: map[string]string{"password": "s3cret-pw-123"}}
	if err := w.c.Create(ctx, sec); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(db, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if c := db.Status.GetCondition(ackv1alpha1.ConditionTypeReferencesResolved); c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("ReferencesResolved %s", describe(&db.Status.ResourceStatus))
	}
	f := w.proxy.Form("CreateDBInstance")
	if f.Get("MasterUserPassword") != "s3cret-pw-123" || f.Get("DBSubnetGroupName") != "db-sb-ref" {
		t.Fatalf("CreateDBInstance %v", f)
	}
	// The resolved values stay in memory: the spec keeps the references.
	w.get(db)
	if db.Spec.DBSubnetGroupName != nil || db.Spec.DBSubnetGroupRef == nil {
		t.Fatalf("spec %+v", db.Spec)
	}
	u := &rdsv1alpha1.DBInstance{}
	if err := w.c.Get(ctx, client.ObjectKeyFromObject(db), u); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(u); strings.Contains(string(b), "s3cret-pw-123") {
		t.Fatal("the password is in the custom resource")
	}
}

// A spec field trellis does not implement is refused, naming it, and
// nothing is created.
func TestRDSUnsupportedField(t *testing.T) {
	w := startRDS(t, nil)
	db := w.seedInstance("kms-db", "")
	db.Spec.DBSubnetGroupName = nil
	db.Spec.KMSKeyID = "arn:aws:kms:us-west-2:123456789012:key/x"
	if err := w.c.Create(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(db, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if m := condMsg(&db.Status.ResourceStatus, ackv1alpha1.ConditionTypeTerminal); !strings.Contains(m, "spec.kmsKeyID") {
		t.Fatalf("terminal message %q", m)
	}
	if n := w.proxy.CountOp("CreateDBInstance"); n != 0 {
		t.Fatalf("%d CreateDBInstance calls", n)
	}
}

func (w *rdsWorld) preexisting(id string) {
	w.t.Helper()
	_, err := w.rds.CreateDBInstance(context.Background(), &rds.CreateDBInstanceInput{
		DBInstanceIdentifier: &id, DBInstanceClass: aws.String("db.t3.micro"), Engine: aws.String("mysql"),
		AllocatedStorage: aws.Int32(15), MasterUsername: aws.String("admin"), MasterUserPassword: aws.String("pw-12345678"),
		Tags: []rdstypes.Tag{{Key: aws.String("owner"), Value: aws.String("someone-else")}},
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// adoptManifest is what an adoption manifest carries: ACK's CRD requires
// these three spec fields.
func (w *rdsWorld) adoptManifest(name, id string, ann map[string]string) *rdsv1alpha1.DBInstance {
	return &rdsv1alpha1.DBInstance{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: w.ns, Annotations: ann},
		Spec: rdsv1alpha1.DBInstanceSpec{
			DBInstanceIdentifier: aws.String(id), DBInstanceClass: aws.String("db.t3.micro"), Engine: aws.String("mysql"),
		},
	}
}

func adoptFields(id string) string { return fmt.Sprintf(`{"dbInstanceIdentifier": %q}`, id) }

// A DB instance that existed first is never deleted unless it was adopted
// with the delete policy: not when a plain CR names it, not when it is
// adopted read-only or with retain, and not after the identifier of an
// adopting CR is edited to name it (ACK community#2102).
func TestRDSAdoption(t *testing.T) {
	w := startRDS(t, nil)
	ctx := context.Background()
	w.preexisting("legacy-db")
	w.preexisting("other-db")

	// A CR for an existing, unmanaged instance: Terminal, and no finalizer.
	plain := w.seedInstance("plain", "")
	plain.Spec.DBInstanceIdentifier = aws.String("legacy-db")
	plain.Spec.DBSubnetGroupName = nil
	if err := w.c.Create(ctx, plain); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(plain, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if m := condMsg(&plain.Status.ResourceStatus, ackv1alpha1.ConditionTypeTerminal); m != "Resource already exists" || len(plain.Finalizers) != 0 {
		t.Fatalf("terminal %q, finalizers %v", m, plain.Finalizers)
	}
	if err := w.c.Delete(ctx, plain); err != nil {
		t.Fatal(err)
	}
	w.waitGone(plain)

	// Read-only adoption: status observed, spec untouched, never written.
	ro := w.adoptManifest("ro", "legacy-db", map[string]string{
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt", ackv1alpha1.AnnotationAdoptionFields: adoptFields("legacy-db"),
		ackv1alpha1.AnnotationReadOnly: "true",
	})
	ro.Spec.AllocatedStorage = aws.Int64(99) // differs: only logged
	if err := w.c.Create(ctx, ro); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(ro, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if aws.ToString(ro.Status.DBInstanceStatus) != "available" || aws.ToInt64(ro.Spec.AllocatedStorage) != 99 {
		t.Fatalf("read-only: status %v spec storage %v", ro.Status.DBInstanceStatus, aws.ToInt64(ro.Spec.AllocatedStorage))
	}
	if err := w.c.Delete(ctx, ro); err != nil {
		t.Fatal(err)
	}
	w.waitGone(ro)

	// Adopted with retain: the spec becomes what RDS has; deleting keeps it.
	kept := w.adoptManifest("kept", "legacy-db", map[string]string{
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt", ackv1alpha1.AnnotationAdoptionFields: adoptFields("legacy-db"),
		ackv1alpha1.AnnotationDeletionPolicy: "retain",
	})
	if err := w.c.Create(ctx, kept); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(kept, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if kept.Annotations[ackv1alpha1.AnnotationAdopted] != "true" || aws.ToInt64(kept.Spec.AllocatedStorage) != 15 || aws.ToString(kept.Spec.MasterUsername) != "admin" {
		t.Fatalf("adopted spec %+v, annotations %v", kept.Spec, kept.Annotations)
	}
	if err := w.c.Delete(ctx, kept); err != nil {
		t.Fatal(err)
	}
	w.waitGone(kept)
	if w.proxy.CountOp("DeleteDBInstance") != 0 {
		t.Fatal("a retained instance was deleted")
	}

	// Adopted with the delete policy: deleting the CR deletes it.
	adopted := w.adoptManifest("adopted", "legacy-db", map[string]string{
		ackv1alpha1.AnnotationAdoptionPolicy: "adopt", ackv1alpha1.AnnotationAdoptionFields: adoptFields("legacy-db"),
	})
	if err := w.c.Create(ctx, adopted); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(adopted, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if err := w.c.Delete(ctx, adopted); err != nil {
		t.Fatal(err)
	}
	w.waitGone(adopted)
	if _, err := w.describe("legacy-db"); err == nil {
		t.Fatal("the adopted instance was not deleted")
	}

	// A created instance whose identifier is then edited to name another,
	// unmanaged instance: refused, and deleting the CR leaves that one.
	created := w.seedInstance("created", "")
	created.Spec.DBInstanceIdentifier = aws.String("new-db")
	created.Spec.DBSubnetGroupName, created.Spec.VPCSecurityGroupIDs = nil, nil
	if err := w.c.Create(ctx, created); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(created, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	deletes := w.proxy.CountOp("DeleteDBInstance")
	w.update(created, func() { created.Spec.DBInstanceIdentifier = aws.String("other-db") })
	w.waitCondition(created, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if m := condMsg(&created.Status.ResourceStatus, ackv1alpha1.ConditionTypeTerminal); !strings.Contains(m, "dbInstanceIdentifier is immutable") {
		t.Fatalf("terminal %q", m)
	}
	if err := w.c.Delete(ctx, created); err != nil {
		t.Fatal(err)
	}
	w.eventually("delete refused", func() (bool, string) {
		w.get(created)
		return strings.Contains(condMsg(&created.Status.ResourceStatus, ackv1alpha1.ConditionTypeTerminal), "not arn:"), describe(&created.Status.ResourceStatus)
	})
	if _, err := w.describe("other-db"); err != nil || w.proxy.CountOp("DeleteDBInstance") != deletes {
		t.Fatalf("the unmanaged instance: %v, DeleteDBInstance calls %d", err, w.proxy.CountOp("DeleteDBInstance")-deletes)
	}
	// Back to its own identifier: the deletion goes through.
	w.update(created, func() { created.Spec.DBInstanceIdentifier = aws.String("new-db") })
	w.waitGone(created)
	if _, err := w.describe("new-db"); err == nil {
		t.Fatal("the created instance was not deleted")
	}
	if _, err := w.describe("other-db"); err != nil {
		t.Fatalf("the unmanaged instance: %v", err)
	}

	// adopt-or-create on an existing instance: adopted, and the spec is
	// applied to it.
	creates := w.proxy.CountOp("CreateDBInstance")
	aoc := w.seedInstance("aoc", "")
	aoc.Spec.DBInstanceIdentifier = aws.String("other-db")
	aoc.Spec.DBSubnetGroupName, aoc.Spec.VPCSecurityGroupIDs, aoc.Spec.ManageMasterUserPassword, aoc.Spec.MasterUsername = nil, nil, nil, nil
	aoc.Spec.EngineVersion = nil
	aoc.Spec.DBInstanceClass = aws.String("db.t3.micro")
	aoc.Spec.BackupRetentionPeriod = aws.Int64(7)
	aoc.Annotations = map[string]string{ackv1alpha1.AnnotationAdoptionPolicy: "adopt-or-create", ackv1alpha1.AnnotationDeletionPolicy: "retain"}
	if err := w.c.Create(ctx, aoc); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(aoc, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	w.eventually("spec applied to the adopted instance", func() (bool, string) {
		d, err := w.describe("other-db")
		if err != nil {
			return false, err.Error()
		}
		return aws.ToInt32(d.BackupRetentionPeriod) == 7 && aws.ToInt32(d.AllocatedStorage) == 10, fmt.Sprint(aws.ToInt32(d.BackupRetentionPeriod), aws.ToInt32(d.AllocatedStorage))
	})
	if w.proxy.CountOp("CreateDBInstance") != creates {
		t.Fatal("adopt-or-create created an instance")
	}
}

var (
	subnetGVK = schema.GroupVersionKind{Group: "ec2.services.k8s.aws", Version: "v1alpha1", Kind: "Subnet"}
	sgGVK     = schema.GroupVersionKind{Group: "ec2.services.k8s.aws", Version: "v1alpha1", Kind: "SecurityGroup"}
	vpcGVK    = schema.GroupVersionKind{Group: "ec2.services.k8s.aws", Version: "v1alpha1", Kind: "VPC"}
)

// ec2Stub installs schema-less ec2 Subnet and SecurityGroup CRDs, for a
// build without the ec2 controllers: the test then writes their statuses.
func (w *rdsWorld) ec2Stub() {
	w.t.Helper()
	ctx := context.Background()
	for _, k := range []struct{ kind, plural string }{{"Subnet", "subnets"}, {"SecurityGroup", "securitygroups"}} {
		crd := &apiextv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: k.plural + ".ec2.services.k8s.aws"},
			Spec: apiextv1.CustomResourceDefinitionSpec{
				Group: "ec2.services.k8s.aws", Scope: apiextv1.NamespaceScoped,
				Names: apiextv1.CustomResourceDefinitionNames{Kind: k.kind, ListKind: k.kind + "List", Plural: k.plural, Singular: strings.ToLower(k.kind)},
				Versions: []apiextv1.CustomResourceDefinitionVersion{{
					Name: "v1alpha1", Served: true, Storage: true,
					Subresources: &apiextv1.CustomResourceSubresources{Status: &apiextv1.CustomResourceSubresourceStatus{}},
					Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{
						Type: "object", XPreserveUnknownFields: aws.Bool(true),
					}},
				}},
			},
		}
		c, err := client.New(testenv.Current(w.t).Config, client.Options{Scheme: apiextScheme()})
		if err != nil {
			w.t.Fatal(err)
		}
		if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
			w.t.Fatal(err)
		}
		w.eventually(crd.Name+" served", func() (bool, string) {
			u := &unstructured.UnstructuredList{}
			u.SetGroupVersionKind(schema.GroupVersionKind{Group: "ec2.services.k8s.aws", Version: "v1alpha1", Kind: k.kind + "List"})
			err := w.c.List(ctx, u, client.InNamespace(w.ns))
			return err == nil, fmt.Sprint(err)
		})
	}
}

func apiextScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = apiextv1.AddToScheme(s)
	return s
}

// stubSynced writes an ACK status with field=value and ResourceSynced=True.
func (w *rdsWorld) stubSynced(u *unstructured.Unstructured, field, value string) {
	w.t.Helper()
	_ = unstructured.SetNestedField(u.Object, value, "status", field)
	_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "ACK.ResourceSynced", "status": "True"}}, "status", "conditions")
	if err := w.c.Status().Update(context.Background(), u); err != nil {
		w.t.Fatal(err)
	}
}

func hasService(name string) bool {
	for _, s := range ack.ServiceNames() {
		if s == name {
			return true
		}
	}
	return false
}

// subnetRefs and vpcSecurityGroupRefs resolve to the ec2 resources'
// status.subnetID and status.id once those are synced; until then nothing
// is created. With the ec2 controllers in the build, the VPC, Subnets and
// SecurityGroup are theirs; without, stub CRDs whose status the test writes.
func TestRDSRefsToEC2(t *testing.T) {
	w := startRDS(t, nil)
	ctx := context.Background()
	real := hasService("ec2")
	if !real {
		w.ec2Stub()
	}
	newU := func(gvk schema.GroupVersionKind, name string, spec map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetGroupVersionKind(gvk)
		u.SetName(name)
		u.SetNamespace(w.ns)
		return u
	}
	ref := func(name string) map[string]any { return map[string]any{"from": map[string]any{"name": name}} }

	g := w.subnetGroup("refs-group")
	g.Spec.SubnetIDs = nil
	g.Spec.SubnetRefs = []*ackv1alpha1.ResourceReference{
		{From: &ackv1alpha1.NamespacedName{Name: aws.String("subnet-a")}},
		{From: &ackv1alpha1.NamespacedName{Name: aws.String("subnet-b")}},
	}
	if err := w.c.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	db := w.seedInstance("refs-db", "")
	db.Spec.DBSubnetGroupName, db.Spec.VPCSecurityGroupIDs = nil, nil
	db.Spec.DBSubnetGroupRef = &ackv1alpha1.ResourceReference{From: &ackv1alpha1.NamespacedName{Name: aws.String("refs-group")}}
	db.Spec.VPCSecurityGroupRefs = []*ackv1alpha1.ResourceReference{{From: &ackv1alpha1.NamespacedName{Name: aws.String("db-sg")}}}
	if err := w.c.Create(ctx, db); err != nil {
		t.Fatal(err)
	}
	w.waitCondition(g, ackv1alpha1.ConditionTypeReferencesResolved, corev1.ConditionUnknown)
	w.waitCondition(db, ackv1alpha1.ConditionTypeReferencesResolved, corev1.ConditionUnknown)

	var subnets []*unstructured.Unstructured
	var sg *unstructured.Unstructured
	if real {
		vpc := newU(vpcGVK, "vpc", map[string]any{"cidrBlocks": []any{"10.9.0.0/16"}})
		if err := w.c.Create(ctx, vpc); err != nil {
			t.Fatal(err)
		}
		for i, n := range []string{"subnet-a", "subnet-b"} {
			s := newU(subnetGVK, n, map[string]any{"vpcRef": ref("vpc"), "cidrBlock": fmt.Sprintf("10.9.%d.0/24", i), "availabilityZone": acktest.Region + string(rune('a'+i))})
			subnets = append(subnets, s)
		}
		sg = newU(sgGVK, "db-sg", map[string]any{"name": "db-sg", "description": "db", "vpcRef": ref("vpc")})
		for _, u := range append(subnets, sg) {
			if err := w.c.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		for _, n := range []string{"subnet-a", "subnet-b"} {
			s := newU(subnetGVK, n, map[string]any{})
			if err := w.c.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			subnets = append(subnets, s)
		}
		sg = newU(sgGVK, "db-sg", map[string]any{})
		if err := w.c.Create(ctx, sg); err != nil {
			t.Fatal(err)
		}
		// Present but not synced: still waiting.
		w.eventually("references not synced yet", func() (bool, string) {
			w.get(g)
			c := g.Status.GetCondition(ackv1alpha1.ConditionTypeReferencesResolved)
			return c != nil && c.Status == corev1.ConditionUnknown && c.Reason != nil && strings.Contains(*c.Reason, "not synced"), describe(&g.Status.ResourceStatus)
		})
		if w.proxy.CountOp("CreateDBSubnetGroup")+w.proxy.CountOp("CreateDBInstance") != 0 {
			t.Fatal("created before the references were synced")
		}
		for i, s := range subnets {
			w.stubSynced(s, "subnetID", w.subnets[i])
		}
		w.stubSynced(sg, "id", w.sg)
	}

	w.waitCondition(g, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	w.waitCondition(db, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if c := db.Status.GetCondition(ackv1alpha1.ConditionTypeReferencesResolved); c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("ReferencesResolved %s", describe(&db.Status.ResourceStatus))
	}
	// What the referenced objects report is what RDS got.
	var wantSubnets []string
	for _, s := range subnets {
		u := s.DeepCopy()
		if err := w.c.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			t.Fatal(err)
		}
		id, _, _ := unstructured.NestedString(u.Object, "status", "subnetID")
		wantSubnets = append(wantSubnets, id)
	}
	gotSubnets := []string{}
	for _, s := range g.Status.Subnets {
		gotSubnets = append(gotSubnets, aws.ToString(s.SubnetIdentifier))
	}
	if !sameStrings(gotSubnets, wantSubnets) {
		t.Fatalf("subnets %v, want %v", gotSubnets, wantSubnets)
	}
	sgID, _, _ := unstructured.NestedString(func() map[string]any {
		u := sg.DeepCopy()
		_ = w.c.Get(ctx, client.ObjectKeyFromObject(u), u)
		return u.Object
	}(), "status", "id")
	if len(db.Status.VPCSecurityGroups) != 1 || aws.ToString(db.Status.VPCSecurityGroups[0].VPCSecurityGroupID) != sgID ||
		aws.ToString(db.Status.DBSubnetGroup.DBSubnetGroupName) != "refs-group" {
		t.Fatalf("instance status %+v %+v", db.Status.VPCSecurityGroups, db.Status.DBSubnetGroup)
	}
	// The spec keeps the references only.
	w.get(g)
	if g.Spec.SubnetIDs != nil {
		t.Fatalf("resolved subnet ids written to the spec: %v", g.Spec.SubnetIDs)
	}
	if !real { // the stubs have no controller and no finalizers to wait for
		for _, u := range append(subnets, sg) {
			_ = w.c.Delete(ctx, u)
		}
	}
}

func sameStrings(a, b []string) bool {
	x := append([]string(nil), a...)
	y := append([]string(nil), b...)
	sort.Strings(x)
	sort.Strings(y)
	return strings.Join(x, ",") == strings.Join(y, ",")
}
