package ec2

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

// motoEnv starts moto and returns the env a reconcile would get, and an EC2
// client for the test's own checks.
func motoEnv(t *testing.T) (ackrt.Env, *ec2.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("moto tests skipped in -short mode")
	}
	moto := acktest.StartMoto(t)
	acktest.SetMotoEnv(t, moto)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("us-west-2"))
	if err != nil {
		t.Fatal(err)
	}
	return ackrt.Env{AWS: cfg, Region: "us-west-2", AccountID: acktest.MotoAccountID, Partition: "aws"}, ec2.NewFromConfig(cfg)
}

func newVPC(name string, uid types.UID, cidrs ...string) *v1.VPC {
	v := &v1.VPC{}
	v.Namespace, v.Name, v.UID = "ns", name, uid
	for _, c := range cidrs {
		v.Spec.CIDRBlocks = append(v.Spec.CIDRBlocks, aws.String(c))
	}
	return v
}

// A VPC is found by its owner tag before its id is in the status (a crash
// between Create and the status write creates no second VPC); a CR of the
// same name but another uid does not find it; deleting a VPC that still has
// a subnet is a recoverable DependencyViolation.
func TestVPCOnMoto(t *testing.T) {
	env, c := motoEnv(t)
	ctx := context.Background()
	m := VPCManager{}
	desired := newVPC("net", "uid-1", "10.10.0.0/16", "10.11.0.0/16")
	desired.Spec.EnableDNSHostnames = aws.Bool(true)
	desired.Spec.Tags = []*v1.Tag{tag("team", "a")}
	if _, err := m.Create(ctx, env, desired); err != nil {
		t.Fatal(err)
	}
	latest, err := m.ReadOne(ctx, env, desired) // no status.vpcID: by the owner tag
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Errorf("delta after create: %v (latest %+v)", d, latest.Spec)
	}
	if ok, why, _ := m.IsSynced(latest); !ok {
		t.Errorf("not synced: %s", why)
	}
	if _, err := m.ReadOne(ctx, env, newVPC("net", "uid-2", "10.10.0.0/16")); !m.Classifier().IsNotFound(err) {
		t.Errorf("another CR of the same name found the VPC: %v", err)
	}
	out, err := c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("cidr"), Values: []string{"10.10.0.0/16"}}}})
	if err != nil || len(out.Vpcs) != 1 {
		t.Fatalf("VPCs with the block: %v, %v; want exactly 1", err, out)
	}

	// Drift: a block removed and DNS hostnames turned off behind trellis's back.
	if _, err := c.ModifyVpcAttribute(ctx, &ec2.ModifyVpcAttributeInput{VpcId: latest.Status.VPCID,
		EnableDnsHostnames: &ec2types.AttributeBooleanValue{Value: aws.Bool(false)}}); err != nil {
		t.Fatal(err)
	}
	desired.Status.VPCID = latest.Status.VPCID
	latest, _ = m.ReadOne(ctx, env, desired)
	d := m.Delta(desired, latest)
	if !has(d, "spec.enableDNSHostnames") {
		t.Fatalf("drift not seen: %v", d)
	}
	if latest, err = m.Update(ctx, env, desired, latest, d); err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(desired, latest); len(d) != 0 {
		t.Errorf("delta after update: %v", d)
	}

	sn, err := c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: latest.Status.VPCID, CidrBlock: aws.String("10.10.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Delete(ctx, env, latest)
	if ackrt.AWSErrorCode(err) != "DependencyViolation" || m.Classifier().Classify(err) != ackrt.ClassRecoverable {
		t.Fatalf("deleting a VPC with a subnet: %v, want a recoverable DependencyViolation", err)
	}
	if _, err := c.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: sn.Subnet.SubnetId}); err != nil {
		t.Fatal(err)
	}
	if done, err := m.Delete(ctx, env, latest); !done || err != nil {
		t.Fatalf("delete: %v %v", done, err)
	}
	if _, err := m.ReadOne(ctx, env, desired); !m.Classifier().IsNotFound(err) {
		t.Errorf("deleted VPC: %v, want not found", err)
	}
}

// The seed's group: its one ingress rule is authorized, AWS's default
// egress rule revoked, a rule removed behind trellis's back is restored,
// and a group is found by name in its VPC before its id is known.
func TestSecurityGroupOnMoto(t *testing.T) {
	env, c := motoEnv(t)
	ctx := context.Background()
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	m := SecurityGroupManager{}
	g := &v1.SecurityGroup{Spec: v1.SecurityGroupSpec{Name: aws.String("db-sg-app"), Description: aws.String("inress mysql rule"), VPCID: vpc.Vpc.VpcId,
		IngressRules: []*v1.IPPermission{{FromPort: i64(3306), ToPort: i64(3306), IPProtocol: aws.String("TCP"),
			IPRanges: []*v1.IPRange{{CIDRIP: aws.String("10.20.0.0/16"), Description: aws.String("db test")}}}},
		Tags: []*v1.Tag{tag("app", "x")}}}
	g.Namespace, g.Name, g.UID = "ns", "db", "uid-1"
	created, err := m.Create(ctx, env, g)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := m.ReadOne(ctx, env, g) // by name in the VPC
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(latest.Status.ID) != aws.ToString(created.Status.ID) {
		t.Fatalf("found %v, created %v", latest.Status.ID, created.Status.ID)
	}
	if d := m.Delta(g, latest); len(d) != 0 {
		t.Fatalf("delta after create: %v; rules %+v", d, latest.Status.Rules)
	}
	if len(latest.Status.Rules) != 1 || aws.ToBool(latest.Status.Rules[0].IsEgress) || aws.ToString(latest.Status.Rules[0].SecurityGroupRuleID) == "" {
		t.Fatalf("status.rules %+v, want the one ingress rule (default egress revoked)", latest.Status.Rules)
	}

	// Drift.
	if _, err := c.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: latest.Status.ID,
		SecurityGroupRuleIds: []string{*latest.Status.Rules[0].SecurityGroupRuleID}}); err != nil {
		t.Fatal(err)
	}
	g.Status.ID = latest.Status.ID
	latest, _ = m.ReadOne(ctx, env, g)
	d := m.Delta(g, latest)
	if !has(d, "spec.ingressRules") {
		t.Fatalf("revoked rule not seen: %v", d)
	}
	if latest, err = m.Update(ctx, env, g, latest, d); err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(g, latest); len(d) != 0 || len(latest.Status.Rules) != 1 {
		t.Fatalf("after update: delta %v, rules %+v", d, latest.Status.Rules)
	}

	// A second CR naming the same group finds it (the runtime then says
	// "Resource already exists" unless it adopts).
	other := g.DeepCopy()
	other.Status.ID, other.UID = nil, "uid-2"
	if found, err := m.ReadOne(ctx, env, other); err != nil || aws.ToString(found.Status.ID) != aws.ToString(g.Status.ID) {
		t.Fatalf("same name: %v %v", err, found)
	}
	if done, err := m.Delete(ctx, env, latest); !done || err != nil {
		t.Fatal(done, err)
	}
	if _, err := m.ReadOne(ctx, env, g); !m.Classifier().IsNotFound(err) {
		t.Errorf("deleted group: %v", err)
	}
}

func TestSubnetOnMoto(t *testing.T) {
	env, c := motoEnv(t)
	ctx := context.Background()
	vpc, err := c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.30.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	m := SubnetManager{}
	s := &v1.Subnet{Spec: v1.SubnetSpec{VPCID: vpc.Vpc.VpcId, CIDRBlock: aws.String("10.30.1.0/24"),
		AvailabilityZone: aws.String("us-west-2a"), MapPublicIPOnLaunch: aws.Bool(true)}}
	s.Namespace, s.Name, s.UID = "ns", "a", "uid-1"
	if _, err := m.Create(ctx, env, s); err != nil {
		t.Fatal(err)
	}
	latest, err := m.ReadOne(ctx, env, s)
	if err != nil {
		t.Fatal(err)
	}
	if d := m.Delta(s, latest); len(d) != 0 {
		t.Errorf("delta after create: %v", d)
	}
	if ok, why, _ := m.IsSynced(latest); !ok || latest.Status.AvailableIPAddressCount == nil {
		t.Errorf("synced %v (%s), status %+v", ok, why, latest.Status)
	}
	bad := s.DeepCopy()
	bad.UID, bad.Spec.CIDRBlock = "uid-2", aws.String("10.99.0.0/24")
	_, err = m.Create(ctx, env, bad)
	if m.Classifier().Classify(err) != ackrt.ClassTerminal {
		t.Errorf("block outside the VPC: %v, want terminal", err)
	}
	if done, err := m.Delete(ctx, env, latest); !done || err != nil {
		t.Fatal(done, err)
	}
	if _, err := m.ReadOne(ctx, env, s); !errors.Is(err, ackrt.ErrNotFound) && !m.Classifier().IsNotFound(err) {
		t.Errorf("deleted subnet: %v", err)
	}
}
