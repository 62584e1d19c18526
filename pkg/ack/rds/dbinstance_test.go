package rds

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// A DescribeDBInstances answer recorded from the RDS query API (trimmed):
// an instance still creating, with a modification pending.
const describeCreating = `<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/">
<DescribeDBInstancesResult><DBInstances><DBInstance>
<DBInstanceIdentifier>db1</DBInstanceIdentifier>
<DBInstanceClass>db.t4g.micro</DBInstanceClass>
<Engine>mysql</Engine>
<EngineVersion>8.0.35</EngineVersion>
<DBInstanceStatus>creating</DBInstanceStatus>
<MasterUsername>testUser</MasterUsername>
<AllocatedStorage>10</AllocatedStorage>
<AvailabilityZone>us-west-2a</AvailabilityZone>
<PendingModifiedValues><AllocatedStorage>20</AllocatedStorage></PendingModifiedValues>
<DBSubnetGroup><DBSubnetGroupName>db-sb-x</DBSubnetGroupName><VpcId>vpc-1</VpcId></DBSubnetGroup>
<VpcSecurityGroups><VpcSecurityGroupMembership><VpcSecurityGroupId>sg-1</VpcSecurityGroupId><Status>active</Status></VpcSecurityGroupMembership></VpcSecurityGroups>
<MasterUserSecret><SecretArn>arn:aws:secretsmanager:us-west-2:123456789012:secret:rds!db-1</SecretArn><SecretStatus>creating</SecretStatus></MasterUserSecret>
<DBInstanceArn>arn:aws:rds:us-west-2:123456789012:db:db1</DBInstanceArn>
<TagList><Tag><Key>a</Key><Value>b</Value></Tag></TagList>
</DBInstance></DBInstances></DescribeDBInstancesResult>
<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DescribeDBInstancesResponse>`

func recordedEnv(t *testing.T, body string) (ackrt.Env, *[]string) {
	t.Helper()
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		calls = append(calls, r.Form.Get("Action"))
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), BaseEndpoint: aws.String(srv.URL)}
	return ackrt.Env{AWS: cfg, Region: "us-west-2"}, &calls
}

func seed() *v1.DBInstance {
	return &v1.DBInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "db1", Namespace: "ns"},
		Spec: v1.DBInstanceSpec{
			DBInstanceIdentifier: aws.String("db1"), DBInstanceClass: aws.String("db.t4g.micro"),
			Engine: aws.String("mysql"), EngineVersion: aws.String("8.0"), AllocatedStorage: aws.Int64(10),
			MasterUsername: aws.String("testUser"), ManageMasterUserPassword: aws.Bool(true),
			DBSubnetGroupName: aws.String("DB-SB-X"), VPCSecurityGroupIDs: []*string{aws.String("sg-1")},
		},
	}
}

func TestReadOneRecordedCreating(t *testing.T) {
	env, _ := recordedEnv(t, describeCreating)
	m := DBInstanceManager{}
	latest, err := m.ReadOne(context.Background(), env, seed())
	if err != nil {
		t.Fatal(err)
	}
	st := latest.Status
	if aws.ToString(st.DBInstanceStatus) != "creating" || aws.ToString(st.MasterUserSecret.SecretARN) != "arn:aws:secretsmanager:us-west-2:123456789012:secret:rds!db-1" ||
		aws.ToString(st.DBSubnetGroup.VPCID) != "vpc-1" || aws.ToInt64(st.PendingModifiedValues.AllocatedStorage) != 20 ||
		m.ARN(env, latest) != "arn:aws:rds:us-west-2:123456789012:db:db1" {
		t.Fatalf("status %+v", st)
	}
	synced, reason, err := m.IsSynced(latest)
	if synced || err != nil || reason != "DB instance is creating" {
		t.Fatalf("IsSynced %v %q %v", synced, reason, err)
	}
	// A pending AllocatedStorage=20 is not requested again; "8.0"
	// matches 8.0.35, the group name matches case-insensitively, and the
	// tags are unmanaged: no delta.
	want := seed()
	want.Spec.AllocatedStorage = aws.Int64(20)
	if d := m.Delta(want, latest); len(d) != 0 {
		t.Fatalf("delta %v", d)
	}
	// The spec's 10 differs from the pending 20.
	if d := m.Delta(seed(), latest); !reflect.DeepEqual(d, []string{"spec.allocatedStorage"}) {
		t.Fatalf("delta %v", d)
	}
	// ...but an update made while creating waits, without a call.
	want.Spec.AllocatedStorage = aws.Int64(30)
	env2, calls := recordedEnv(t, describeCreating)
	_, err = m.Update(context.Background(), env2, want, latest, m.Delta(want, latest))
	var re *ackrt.RequeueError
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "'creating' state") || len(*calls) != 0 {
		t.Fatalf("update while creating: %v, calls %v", err, *calls)
	}
}

func TestIsSynced(t *testing.T) {
	m := DBInstanceManager{}
	for status, want := range map[string]string{
		"available": "synced", "creating": "wait", "modifying": "wait", "backing-up": "wait", "rebooting": "wait",
		"failed": "terminal", "deleting": "terminal", "incompatible-network": "terminal",
	} {
		d := seed()
		d.Status.DBInstanceStatus = aws.String(status)
		synced, _, err := m.IsSynced(d)
		var te *ackrt.TerminalError
		got := "wait"
		switch {
		case errors.As(err, &te):
			got = "terminal"
		case synced:
			got = "synced"
		}
		if got != want {
			t.Errorf("%s: %s, want %s", status, got, want)
		}
	}
}

func TestImmutableFieldsTerminal(t *testing.T) {
	m := DBInstanceManager{}
	latest := seed()
	latest.Status.DBInstanceStatus = aws.String("available")
	desired := seed()
	desired.Spec.Engine = aws.String("postgres")
	desired.Spec.MasterUsername = aws.String("root")
	desired.Spec.DBName = aws.String("app")
	env, calls := recordedEnv(t, describeCreating)
	_, err := m.Update(context.Background(), env, desired, latest, m.Delta(desired, latest))
	var te *ackrt.TerminalError
	if !errors.As(err, &te) || !strings.Contains(te.Msg, "spec.dbName, spec.engine, spec.masterUsername") || len(*calls) != 0 {
		t.Fatalf("%v, calls %v", err, *calls)
	}
}

func TestModifyInput(t *testing.T) {
	desired, latest := seed(), seed()
	desired.Spec.Port = aws.Int64(3307)
	desired.Spec.EnableCloudwatchLogsExports = []*string{aws.String("error"), aws.String("slowquery")}
	latest.Spec.EnableCloudwatchLogsExports = []*string{aws.String("error"), aws.String("audit")}
	desired.Spec.Tags = []*v1.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
	delta := DBInstanceManager{}.Delta(desired, latest)
	if !reflect.DeepEqual(delta, []string{"spec.enableCloudwatchLogsExports", "spec.port", "spec.tags"}) {
		t.Fatalf("delta %v", delta)
	}
	in, ok := modifyInput(desired, latest, delta)
	if !ok || aws.ToInt32(in.DBPortNumber) != 3307 || !aws.ToBool(in.ApplyImmediately) ||
		!reflect.DeepEqual(in.CloudwatchLogsExportConfiguration.EnableLogTypes, []string{"slowquery"}) ||
		!reflect.DeepEqual(in.CloudwatchLogsExportConfiguration.DisableLogTypes, []string{"audit"}) {
		t.Fatalf("%+v", in)
	}
	if _, ok := modifyInput(desired, latest, []string{"spec.tags"}); ok {
		t.Fatal("a tags-only change needs no ModifyDBInstance")
	}
}

func TestDeleteInput(t *testing.T) {
	d := seed()
	in, err := deleteInput(d)
	if err != nil || !aws.ToBool(in.SkipFinalSnapshot) || !aws.ToBool(in.DeleteAutomatedBackups) || in.FinalDBSnapshotIdentifier != nil {
		t.Fatalf("default: %+v %v", in, err)
	}
	d.Annotations = map[string]string{AnnotationSkipFinalSnapshot: "false"}
	if _, err := deleteInput(d); err == nil {
		t.Fatal("a final snapshot without an id was accepted")
	}
	d.Annotations[AnnotationFinalSnapshotID] = "last"
	d.Annotations[AnnotationDeleteAutomatedBackups] = "false"
	in, err = deleteInput(d)
	if err != nil || aws.ToBool(in.SkipFinalSnapshot) || aws.ToString(in.FinalDBSnapshotIdentifier) != "last" || aws.ToBool(in.DeleteAutomatedBackups) {
		t.Fatalf("snapshot: %+v %v", in, err)
	}
}

func TestDeleteWhileDeletingMakesNoCall(t *testing.T) {
	env, calls := recordedEnv(t, describeCreating)
	d := seed()
	d.Status.DBInstanceStatus = aws.String("deleting")
	done, err := DBInstanceManager{}.Delete(context.Background(), env, d)
	if done || err != nil || len(*calls) != 0 {
		t.Fatalf("done %v err %v calls %v", done, err, *calls)
	}
}

func TestIdentifierImmutable(t *testing.T) {
	d := seed()
	arn := ackv1alpha1.ARN("arn:aws:rds:us-west-2:123456789012:db:db1")
	d.Status.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{ARN: &arn}
	if err := (DBInstanceManager{}).Validate(d); err != nil {
		t.Fatal(err)
	}
	d.Spec.DBInstanceIdentifier = aws.String("db2")
	if err := (DBInstanceManager{}).Validate(d); err == nil || !strings.Contains(err.Error(), "dbInstanceIdentifier is immutable") {
		t.Fatalf("%v", err)
	}
	// ReadOne of another instance than the managed one (the delete path
	// does not validate) is refused too.
	env, _ := recordedEnv(t, strings.ReplaceAll(describeCreating, ":db:db1", ":db:db2"))
	if _, err := (DBInstanceManager{}).ReadOne(context.Background(), env, seed2(d)); err == nil {
		t.Fatal("read another instance")
	}
}

func seed2(d *v1.DBInstance) *v1.DBInstance { return d.DeepCopy() }

func TestLateInitialize(t *testing.T) {
	desired, latest := seed(), seed()
	latest.Spec.AvailabilityZone = aws.String("us-west-2a")
	latest.Spec.StorageType = aws.String("gp2")
	if !(DBInstanceManager{}).LateInitialize(desired, latest) || aws.ToString(desired.Spec.AvailabilityZone) != "us-west-2a" || aws.ToString(desired.Spec.StorageType) != "gp2" {
		t.Fatalf("%+v", desired.Spec)
	}
	if (DBInstanceManager{}).LateInitialize(desired, latest) {
		t.Fatal("changed twice")
	}
}

func TestPasswordNeverSerialised(t *testing.T) {
	d := seed()
	d.MasterUserPasswordValue = aws.String("pw")
	c := d.DeepCopy()
	if aws.ToString(c.MasterUserPasswordValue) != "pw" {
		t.Fatal("lost on DeepCopy")
	}
	var out v1.DBInstance
	ackv1alpha1.DeepCopyJSON(d, &out)
	if out.MasterUserPasswordValue != nil {
		t.Fatal("serialised")
	}
}
