package ack_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	ec2v1alpha1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
	"github.com/trellis-dev/trellis/pkg/ack"
	"github.com/trellis-dev/trellis/pkg/ack/acktest"
	"github.com/trellis-dev/trellis/pkg/testenv"
)

// ec2Fixture runs the ec2 controllers against moto (through a proxy that
// records the EC2 actions they call) and the test control plane.
type ec2Fixture struct {
	*fixture
	ec2   *ec2.Client // the test's own client, straight to moto
	calls *acktest.Proxy
}

func startEC2(t *testing.T, resync time.Duration) *ec2Fixture {
	t.Helper()
	env := testenv.Current(t)
	moto := acktest.StartMoto(t)
	acktest.SetMotoEnv(t, moto)
	rec := acktest.NewProxy(t, moto.Endpoint)
	t.Setenv("AWS_ENDPOINT_URL", rec.Endpoint) // the controllers' calls only
	opts := ack.DefaultOptions()
	opts.Services = "ec2"
	opts.Runtime.Region = "us-west-2"
	opts.Runtime.NotSyncedRequeue = 200 * time.Millisecond
	if resync > 0 {
		opts.Runtime.ResyncPeriod = resync
	}
	runManager(t, scheme(), opts, nil)
	s := scheme()
	_ = ec2v1alpha1.AddToScheme(s)
	c, err := client.New(env.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("us-west-2"))
	if err != nil {
		t.Fatal(err)
	}
	f := &ec2Fixture{
		fixture: &fixture{t: t, c: c, ns: env.Namespace(t)},
		ec2:     ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.BaseEndpoint = aws.String(moto.Endpoint) }),
		calls:   rec,
	}
	t.Cleanup(f.cleanupEC2) // runs before the manager stops
	return f
}

// cleanupEC2 deletes the test's objects while the controllers run.
func (f *ec2Fixture) cleanupEC2() {
	ctx := context.Background()
	lists := []client.ObjectList{&ec2v1alpha1.SecurityGroupList{}, &ec2v1alpha1.SubnetList{}, &ec2v1alpha1.VPCList{}}
	for _, obj := range []client.Object{&ec2v1alpha1.SecurityGroup{}, &ec2v1alpha1.Subnet{}, &ec2v1alpha1.VPC{}} {
		_ = f.c.DeleteAllOf(ctx, obj, client.InNamespace(f.ns))
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, l := range lists {
		for {
			if err := f.c.List(ctx, l, client.InNamespace(f.ns)); err != nil || metaLen(l) == 0 {
				break
			}
			if time.Now().After(deadline) { // a controller gave up: let the namespace go
				_ = forEachItem(l, func(o client.Object) {
					o.SetFinalizers(nil)
					_ = f.c.Update(ctx, o)
				})
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

func metaLen(l client.ObjectList) int {
	n := 0
	_ = forEachItem(l, func(client.Object) { n++ })
	return n
}

func forEachItem(l client.ObjectList, fn func(client.Object)) error {
	switch l := l.(type) {
	case *ec2v1alpha1.SecurityGroupList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	case *ec2v1alpha1.SubnetList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	case *ec2v1alpha1.VPCList:
		for i := range l.Items {
			fn(&l.Items[i])
		}
	}
	return nil
}

// wait waits until obj has condition typ with status want.
func (f *ec2Fixture) wait(obj ackObject, typ ackv1alpha1.ConditionType, want corev1.ConditionStatus) {
	f.t.Helper()
	f.eventually(fmt.Sprintf("%s %s=%s", obj.GetName(), typ, want), func() (bool, string) {
		if err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return false, err.Error()
		}
		c := obj.ACKStatus().GetCondition(typ)
		return c != nil && c.Status == want, describe(obj.ACKStatus())
	})
}

func (f *ec2Fixture) gone(obj ackObject) {
	f.t.Helper()
	f.eventually(obj.GetName()+" deleted", func() (bool, string) {
		err := f.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		return false, fmt.Sprintf("finalizers %v, %s", obj.GetFinalizers(), describe(obj.ACKStatus()))
	})
}

func (f *ec2Fixture) create(obj client.Object) {
	f.t.Helper()
	obj.SetNamespace(f.ns)
	if err := f.c.Create(context.Background(), obj); err != nil {
		f.t.Fatal(err)
	}
}

// vpcsWith returns the ids of moto's VPCs with the block.
func (f *ec2Fixture) vpcsWith(cidr string) []string {
	f.t.Helper()
	out, err := f.ec2.DescribeVpcs(context.Background(), &ec2.DescribeVpcsInput{Filters: []ec2types.Filter{{Name: aws.String("cidr"), Values: []string{cidr}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	var ids []string
	for _, v := range out.Vpcs {
		ids = append(ids, aws.ToString(v.VpcId))
	}
	return ids
}

func (f *ec2Fixture) groupsNamed(name string) []ec2types.SecurityGroup {
	f.t.Helper()
	out, err := f.ec2.DescribeSecurityGroups(context.Background(), &ec2.DescribeSecurityGroupsInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-name"), Values: []string{name}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return out.SecurityGroups
}

func (f *ec2Fixture) rules(groupID string) []ec2types.SecurityGroupRule {
	f.t.Helper()
	out, err := f.ec2.DescribeSecurityGroupRules(context.Background(), &ec2.DescribeSecurityGroupRulesInput{
		Filters: []ec2types.Filter{{Name: aws.String("group-id"), Values: []string{groupID}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return out.SecurityGroupRules
}

func ref(name string) *ackv1alpha1.ResourceReference {
	return &ackv1alpha1.ResourceReference{From: &ackv1alpha1.NamespacedName{Name: aws.String(name)}}
}

// seedSecurityGroup is the SecurityGroup template of the seed's rds RGD
// (000-rds-rgd.yaml) with its schema fields filled in, decoded strictly.
func seedSecurityGroup(t *testing.T, vpcID, cidr, app string) *ec2v1alpha1.SecurityGroup {
	t.Helper()
	b, err := os.ReadFile("testdata/000-rds-rgd.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rgd struct {
		Spec struct {
			Resources []struct {
				ID       string `json:"id"`
				Template any    `json:"template"`
			} `json:"resources"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &rgd); err != nil {
		t.Fatal(err)
	}
	for _, r := range rgd.Spec.Resources {
		if r.ID != "securityGroup" {
			continue
		}
		tb, _ := yaml.Marshal(r.Template)
		s := strings.NewReplacer("${schema.spec.vpcID}", vpcID, "${schema.spec.cidrIP}", cidr,
			"${schema.spec.applicationName}", app).Replace(string(tb))
		g := &ec2v1alpha1.SecurityGroup{}
		if err := yaml.UnmarshalStrict([]byte(s), g); err != nil {
			t.Fatalf("the seed's SecurityGroup does not decode: %v\n%s", err, s)
		}
		return g
	}
	t.Fatal("no securityGroup in the seed RGD")
	return nil
}

func countOf(actions []string, name string) int {
	n := 0
	for _, a := range actions {
		if a == name {
			n++
		}
	}
	return n
}

// The chain VPC → Subnet (vpcRef) → SecurityGroup (vpcRef): the Subnet and
// the group wait, naming the VPC, and nothing is created in moto until the
// VPC is synced; then all sync, and deleting them (all at once: the VPC's
// DependencyViolation is retried until its subnet and group are gone)
// removes them from moto.
func TestEC2ReferenceChain(t *testing.T) {
	f := startEC2(t, 0)
	ctx := context.Background()
	sn := &ec2v1alpha1.Subnet{Spec: ec2v1alpha1.SubnetSpec{CIDRBlock: aws.String("10.40.1.0/24"), VPCRef: ref("net"),
		AvailabilityZone: aws.String("us-west-2a"), Tags: []*ec2v1alpha1.Tag{{Key: aws.String("tier"), Value: aws.String("db")}}}}
	sn.Name = "db-a"
	sg := seedSecurityGroup(t, "unused", "10.40.0.0/16", "chain")
	sg.Spec.VPCID, sg.Spec.VPCRef = nil, ref("net")
	f.create(sn)
	f.create(sg)
	for _, o := range []ackObject{sn, sg} {
		f.wait(o, ackv1alpha1.ConditionTypeReferencesResolved, corev1.ConditionUnknown)
		c := o.ACKStatus().GetCondition(ackv1alpha1.ConditionTypeReferencesResolved)
		if c.Reason == nil || !strings.Contains(*c.Reason, "VPC "+f.ns+"/net") {
			t.Errorf("%s: ReferencesResolved reason %v, want it to name VPC %s/net", o.GetName(), c.Reason, f.ns)
		}
		if s := o.ACKStatus().GetCondition(ackv1alpha1.ConditionTypeResourceSynced); s == nil || s.Status == corev1.ConditionTrue {
			t.Errorf("%s synced while its VPC is missing", o.GetName())
		}
	}
	if acts := f.calls.OpsSince(0); countOf(acts, "CreateSubnet")+countOf(acts, "CreateSecurityGroup") != 0 {
		t.Fatalf("created with a missing reference: %v", acts)
	}
	if g := f.groupsNamed("db-sg-chain"); len(g) != 0 {
		t.Fatalf("group created in moto before its VPC: %v", g)
	}

	vpc := &ec2v1alpha1.VPC{Spec: ec2v1alpha1.VPCSpec{CIDRBlocks: []*string{aws.String("10.40.0.0/16")},
		EnableDNSHostnames: aws.Bool(true), EnableDNSSupport: aws.Bool(true)}}
	vpc.Name = "net"
	f.create(vpc)
	for _, o := range []ackObject{vpc, sn, sg} {
		f.wait(o, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	}
	vpcID := aws.ToString(vpc.Status.VPCID)
	if ids := f.vpcsWith("10.40.0.0/16"); len(ids) != 1 || ids[0] != vpcID || aws.ToString(vpc.Status.State) != "available" {
		t.Fatalf("moto VPCs %v, status %s %v", ids, vpcID, vpc.Status.State)
	}
	if c := sn.ACKStatus().GetCondition(ackv1alpha1.ConditionTypeReferencesResolved); c == nil || c.Status != corev1.ConditionTrue {
		t.Errorf("subnet ReferencesResolved %v", c)
	}
	if aws.ToString(sn.Status.SubnetID) == "" || sn.Spec.VPCID != nil {
		t.Errorf("subnet status %+v; spec.vpcID %v (the resolved id stays out of the spec)", sn.Status, sn.Spec.VPCID)
	}
	subnets, err := f.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{aws.ToString(sn.Status.SubnetID)}})
	if err != nil || aws.ToString(subnets.Subnets[0].VpcId) != vpcID {
		t.Fatalf("subnet in moto: %v %+v", err, subnets)
	}
	groups := f.groupsNamed("db-sg-chain")
	if len(groups) != 1 || aws.ToString(groups[0].GroupId) != aws.ToString(sg.Status.ID) || aws.ToString(groups[0].VpcId) != vpcID {
		for _, g := range groups {
			t.Logf("moto group %s in %s", aws.ToString(g.GroupId), aws.ToString(g.VpcId))
		}
		t.Fatalf("%d moto groups named db-sg-chain; want one, %s in %s", len(groups), aws.ToString(sg.Status.ID), vpcID)
	}
	if len(sg.Status.Rules) != 1 || aws.ToString(sg.Status.Rules[0].IPProtocol) != "tcp" || aws.ToInt64(sg.Status.Rules[0].FromPort) != 3306 {
		t.Errorf("status.rules %+v, want the seed's one ingress rule (AWS's default egress rule revoked)", sg.Status.Rules)
	}
	if arn := sg.Status.ACKResourceMetadata; arn == nil || arn.ARN == nil || !strings.HasSuffix(string(*arn.ARN), ":security-group/"+aws.ToString(sg.Status.ID)) {
		t.Errorf("ackResourceMetadata %+v", arn)
	}

	for _, o := range []client.Object{vpc, sn, sg} {
		if err := f.c.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []ackObject{sg, sn, vpc} {
		f.gone(o)
	}
	if ids := f.vpcsWith("10.40.0.0/16"); len(ids) != 0 {
		t.Errorf("VPC left in moto: %v", ids)
	}
	if g := f.groupsNamed("db-sg-chain"); len(g) != 0 {
		t.Errorf("group left in moto: %v", g)
	}
}

// The seed's group shape syncs; a rule revoked behind trellis's back is
// restored on the next resync; and while nothing changes the synced group
// costs reads only, no EC2 writes.
func TestSecurityGroupDriftAndIdle(t *testing.T) {
	f := startEC2(t, 2*time.Second)
	ctx := context.Background()
	vpc, err := f.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.50.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	sg := seedSecurityGroup(t, aws.ToString(vpc.Vpc.VpcId), "10.50.0.0/16", "drift")
	f.create(sg)
	f.wait(sg, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	id := aws.ToString(sg.Status.ID)
	rules := f.rules(id)
	if len(rules) != 1 || aws.ToBool(rules[0].IsEgress) {
		t.Fatalf("moto rules %+v, want the seed's ingress rule only", rules)
	}

	// Idle: three resyncs (each reads the group) and no writes.
	n := f.calls.Count()
	f.eventually("three resyncs", func() (bool, string) {
		c := countOf(f.calls.OpsSince(n), "DescribeSecurityGroups")
		return c >= 3, fmt.Sprintf("%d reads", c)
	})
	for _, a := range f.calls.OpsSince(n) {
		if !strings.HasPrefix(a, "Describe") {
			t.Errorf("EC2 call %s while the group sat synced and unchanged", a)
		}
	}

	// Drift: revoke the rule; the next resync authorizes it again.
	if _, err := f.ec2.RevokeSecurityGroupIngress(ctx, &ec2.RevokeSecurityGroupIngressInput{GroupId: &id,
		SecurityGroupRuleIds: []string{aws.ToString(rules[0].SecurityGroupRuleId)}}); err != nil {
		t.Fatal(err)
	}
	f.eventually("the rule restored", func() (bool, string) {
		rs := f.rules(id)
		return len(rs) == 1 && aws.ToString(rs[0].CidrIpv4) == "10.50.0.0/16" && aws.ToInt32(rs[0].FromPort) == 3306, fmt.Sprintf("%d rules", len(rs))
	})
	if c := countOf(f.calls.OpsSince(n), "AuthorizeSecurityGroupIngress"); c != 1 {
		t.Errorf("AuthorizeSecurityGroupIngress called %d times, want 1", c)
	}
}

// A group that existed before (created outside trellis): a resource naming
// it without adoption is "Resource already exists" and its deletion leaves
// the group; read-only observes it; adopt takes it over, and deleting the
// adopted resource (delete policy) deletes it.
func TestSecurityGroupAdoption(t *testing.T) {
	f := startEC2(t, 0)
	ctx := context.Background()
	vpc, err := f.ec2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.60.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.ec2.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("existing"),
		Description: aws.String("made by hand"), VpcId: vpc.Vpc.VpcId})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.GroupId)
	if _, err := f.ec2.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &id,
		IpPermissions: []ec2types.IpPermission{{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(22), ToPort: aws.Int32(22),
			IpRanges: []ec2types.IpRange{{CidrIp: aws.String("10.0.0.0/8")}}}}}); err != nil {
		t.Fatal(err)
	}
	spec := ec2v1alpha1.SecurityGroupSpec{Name: aws.String("existing"), Description: aws.String("made by hand"), VPCID: vpc.Vpc.VpcId}

	taken := &ec2v1alpha1.SecurityGroup{Spec: spec}
	taken.Name = "taken"
	f.create(taken)
	f.wait(taken, ackv1alpha1.ConditionTypeTerminal, corev1.ConditionTrue)
	if c := taken.ACKStatus().GetCondition(ackv1alpha1.ConditionTypeTerminal); aws.ToString(c.Message) != "Resource already exists" {
		t.Errorf("terminal message %q", aws.ToString(c.Message))
	}

	ro := &ec2v1alpha1.SecurityGroup{Spec: spec}
	ro.Name = "observer"
	ro.Annotations = map[string]string{ackv1alpha1.AnnotationReadOnly: "true", ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: `{"id": "` + id + `"}`}
	f.create(ro)
	f.wait(ro, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if aws.ToString(ro.Status.ID) != id || len(ro.Status.Rules) != 2 {
		t.Errorf("read-only status %+v, want the group's two rules", ro.Status)
	}

	adopted := &ec2v1alpha1.SecurityGroup{Spec: spec}
	adopted.Name = "adopter"
	adopted.Annotations = map[string]string{ackv1alpha1.AnnotationAdoptionPolicy: "adopt",
		ackv1alpha1.AnnotationAdoptionFields: `{"id": "` + id + `"}`}
	f.create(adopted)
	f.wait(adopted, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	if adopted.Annotations[ackv1alpha1.AnnotationAdopted] != "true" || len(adopted.Spec.IngressRules) != 1 || len(adopted.Spec.EgressRules) != 1 {
		t.Errorf("adopted: annotations %v, spec %+v; want the observed rules in the spec", adopted.Annotations, adopted.Spec)
	}
	if rs := f.rules(id); len(rs) != 2 {
		t.Errorf("adoption changed the rules: %+v", rs)
	}

	for _, o := range []client.Object{taken, ro} {
		if err := f.c.Delete(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	f.gone(taken)
	f.gone(ro)
	if g := f.groupsNamed("existing"); len(g) != 1 {
		t.Fatalf("deleting the unmanaged and read-only resources deleted the group: %v", g)
	}
	if err := f.c.Delete(ctx, adopted); err != nil {
		t.Fatal(err)
	}
	f.gone(adopted)
	if g := f.groupsNamed("existing"); len(g) != 0 {
		t.Errorf("the adopted group (delete policy) is still there: %v", g)
	}
}

// A VPC whose status write was lost after Create (status cleared) is found
// again by its owner tag on the next loop: no second VPC.
func TestVPCCreatedOnce(t *testing.T) {
	f := startEC2(t, 0)
	ctx := context.Background()
	vpc := &ec2v1alpha1.VPC{Spec: ec2v1alpha1.VPCSpec{CIDRBlocks: []*string{aws.String("10.70.0.0/16")}}}
	vpc.Name = "once"
	f.create(vpc)
	f.wait(vpc, ackv1alpha1.ConditionTypeResourceSynced, corev1.ConditionTrue)
	first := aws.ToString(vpc.Status.VPCID)

	// As if the controller had stopped between CreateVpc and the status write.
	before := vpc.DeepCopy()
	vpc.Status = ec2v1alpha1.VPCStatus{}
	if err := f.c.Status().Patch(ctx, vpc, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	// A spec change makes the next loop run now.
	vpc.Spec.Tags = []*ec2v1alpha1.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
	if err := f.c.Update(ctx, vpc); err != nil {
		t.Fatal(err)
	}
	f.eventually("the status back, with the tag applied", func() (bool, string) {
		if err := f.c.Get(ctx, client.ObjectKeyFromObject(vpc), vpc); err != nil {
			return false, err.Error()
		}
		out, err := f.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{VpcIds: []string{first}})
		tagged := err == nil && len(out.Vpcs) == 1 && len(out.Vpcs[0].Tags) == 2
		return aws.ToString(vpc.Status.VPCID) != "" && tagged, fmt.Sprintf("vpcID %v, %s", vpc.Status.VPCID, describe(vpc.ACKStatus()))
	})
	if got := aws.ToString(vpc.Status.VPCID); got != first {
		t.Errorf("status.vpcID %s, want the first VPC %s", got, first)
	}
	if ids := f.vpcsWith("10.70.0.0/16"); len(ids) != 1 {
		t.Errorf("VPCs with the block: %v, want one", ids)
	}
	if c := countOf(f.calls.OpsSince(0), "CreateVpc"); c != 1 {
		t.Errorf("CreateVpc called %d times", c)
	}

	// Deleting it while a subnet made outside trellis is still in it:
	// DependencyViolation is Recoverable and retried until the subnet goes.
	sn, err := f.ec2.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &first, CidrBlock: aws.String("10.70.1.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.c.Delete(ctx, vpc); err != nil {
		t.Fatal(err)
	}
	f.wait(vpc, ackv1alpha1.ConditionTypeRecoverable, corev1.ConditionTrue)
	if c := vpc.ACKStatus().GetCondition(ackv1alpha1.ConditionTypeRecoverable); !strings.Contains(aws.ToString(c.Message), "DependencyViolation") {
		t.Errorf("recoverable message %q", aws.ToString(c.Message))
	}
	if _, err := f.ec2.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: sn.Subnet.SubnetId}); err != nil {
		t.Fatal(err)
	}
	f.gone(vpc)
	if ids := f.vpcsWith("10.70.0.0/16"); len(ids) != 0 {
		t.Errorf("VPC left in moto: %v", ids)
	}
}
