package rds

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/go-logr/logr"

	v1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// The managers against moto's RDS, without an API server: what they send
// is what moto understands, and a freshly created group or instance shows
// no delta (so a synced resource makes no writes).
func TestManagersOnMoto(t *testing.T) {
	moto := acktest.StartMoto(t)
	acktest.SetMotoEnv(t, moto)
	a, err := ackrt.LoadAWS(context.Background(), ackrt.Config{}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	env := ackrt.Env{AWS: a.Config, Region: a.Region(), AccountID: acktest.MotoAccountID, Partition: "aws"}
	ctx := context.Background()
	e := ec2.NewFromConfig(a.Config)
	vpc, err := e.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	var subnets []string
	for i, az := range []string{"a", "b"} {
		s, err := e.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: vpc.Vpc.VpcId, CidrBlock: aws.String([]string{"10.0.1.0/24", "10.0.2.0/24"}[i]), AvailabilityZone: aws.String(env.Region + az)})
		if err != nil {
			t.Fatal(err)
		}
		subnets = append(subnets, *s.Subnet.SubnetId)
	}

	gm := DBSubnetGroupManager{}
	g := &v1.DBSubnetGroup{Spec: v1.DBSubnetGroupSpec{
		Name: aws.String("grp"), Description: aws.String("d"), SubnetIDs: ptrs(subnets),
		Tags: []*v1.Tag{{Key: aws.String("k"), Value: aws.String("v")}},
	}}
	if _, err := gm.ReadOne(ctx, env, g); !gm.Classifier().IsNotFound(err) {
		t.Fatalf("before create: %v", err)
	}
	if _, err := gm.Create(ctx, env, g); err != nil {
		t.Fatal(err)
	}
	gl, err := gm.ReadOne(ctx, env, g)
	if err != nil {
		t.Fatal(err)
	}
	if d := gm.Delta(g, gl); len(d) != 0 {
		t.Fatalf("group delta after create: %v", d)
	}
	if ok, _, _ := gm.IsSynced(gl); !ok || aws.ToString(gl.Status.VPCID) != *vpc.Vpc.VpcId {
		t.Fatalf("group status %+v", gl.Status)
	}

	m := DBInstanceManager{}
	db := seed()
	db.Spec.DBSubnetGroupName = aws.String("grp")
	db.Spec.VPCSecurityGroupIDs = nil
	db.Spec.Tags = []*v1.Tag{{Key: aws.String("app"), Value: aws.String("x")}}
	if _, err := m.ReadOne(ctx, env, db); !m.Classifier().IsNotFound(err) {
		t.Fatalf("before create: %v", err)
	}
	if _, err := m.Create(ctx, env, db); err != nil {
		t.Fatal(err)
	}
	latest, err := m.ReadOne(ctx, env, db)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(db, latest); len(d) != 0 {
		t.Fatalf("instance delta after create: %v", d)
	}
	if ok, _, err := m.IsSynced(latest); !ok || err != nil || latest.Status.MasterUserSecret == nil || latest.Status.Endpoint == nil {
		t.Fatalf("instance status %+v", latest.Status)
	}
	// Late-initialised fields do not look like drift either.
	m.LateInitialize(db, latest)
	if d := m.Delta(db, latest); len(d) != 0 {
		t.Fatalf("delta after late initialisation: %v", d)
	}

	db.Spec.AllocatedStorage = aws.Int64(25)
	db.Spec.PubliclyAccessible = aws.Bool(false)
	db.Spec.Tags = []*v1.Tag{{Key: aws.String("app"), Value: aws.String("y")}, {Key: aws.String("t"), Value: aws.String("1")}}
	latest, err = m.Update(ctx, env, db, latest, m.Delta(db, latest))
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(db, latest); len(d) != 0 {
		t.Fatalf("delta after update: %v", d)
	}

	// Instance first: AWS refuses to delete a group in use
	// (InvalidDBSubnetGroupStateFault, retried as Recoverable).
	if done, err := m.Delete(ctx, env, latest); done || err != nil {
		t.Fatalf("delete: %v %v", done, err)
	}
	if _, err := m.ReadOne(ctx, env, db); !m.Classifier().IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
	if done, err := gm.Delete(ctx, env, gl); !done || err != nil {
		t.Fatalf("group delete: %v %v", done, err)
	}
}
