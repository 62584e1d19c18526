package ec2

import (
	"errors"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func tag(k, v string) *v1.Tag { return &v1.Tag{Key: aws.String(k), Value: aws.String(v)} }

func TestTags(t *testing.T) {
	got := tagsFrom([]ec2types.Tag{
		{Key: aws.String("b"), Value: aws.String("2")}, {Key: aws.String(OwnerTag), Value: aws.String("ns/x/uid")},
		{Key: aws.String("aws:cloudformation:stack-id"), Value: aws.String("s")}, {Key: aws.String("a"), Value: aws.String("1")},
	})
	if want := []*v1.Tag{tag("a", "1"), tag("b", "2")}; !reflect.DeepEqual(got, want) {
		t.Errorf("tagsFrom = %v, want the user's tags only, sorted", got)
	}
	if tagsDiffer(nil, got) {
		t.Error("a spec without tags manages no tags")
	}
	if !tagsDiffer([]*v1.Tag{}, got) || tagsDiffer([]*v1.Tag{tag("b", "2"), tag("a", "1")}, got) {
		t.Error("tags compare as maps")
	}
	obj := &metav1.ObjectMeta{Namespace: "ns", Name: "x", UID: "u-1"}
	specs := tagSpecs(ec2types.ResourceTypeVpc, []*v1.Tag{tag("a", "1")}, obj)
	if len(specs) != 1 || len(specs[0].Tags) != 2 || aws.ToString(specs[0].Tags[0].Value) != "ns/x/u-1" {
		t.Errorf("tag specifications %+v, want the owner tag and a", specs)
	}
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }

func TestClassifiers(t *testing.T) {
	vpc, sn, sg := VPCManager{}.Classifier(), SubnetManager{}.Classifier(), SecurityGroupManager{}.Classifier()
	for _, c := range []struct {
		name string
		cl   ackrt.Classifier
		err  error
		want ackrt.ErrorClass
	}{
		{"sg in use", sg, apiErr("DependencyViolation"), ackrt.ClassRecoverable},
		{"subnet in use", sn, apiErr("DependencyViolation"), ackrt.ClassRecoverable},
		{"vpc in use", vpc, apiErr("DependencyViolation"), ackrt.ClassRecoverable},
		{"sg gone", sg, apiErr("InvalidGroup.NotFound"), ackrt.ClassNotFound},
		{"sg empty describe", sg, ackrt.ErrNotFound, ackrt.ClassNotFound},
		{"sg name taken", sg, apiErr("InvalidGroup.Duplicate"), ackrt.ClassTerminal},
		{"sg in a missing vpc", sg, apiErr("InvalidVpcID.NotFound"), ackrt.ClassTerminal},
		{"subnet in a missing vpc", sn, apiErr("InvalidVpcID.NotFound"), ackrt.ClassTerminal},
		{"vpc gone", vpc, apiErr("InvalidVpcID.NotFound"), ackrt.ClassNotFound},
		{"subnet gone", sn, apiErr("InvalidSubnetID.NotFound"), ackrt.ClassNotFound},
		{"bad range", sn, apiErr("InvalidSubnet.Range"), ackrt.ClassTerminal},
		{"throttled", vpc, apiErr("RequestLimitExceeded"), ackrt.ClassRecoverable},
	} {
		if got := c.cl.Classify(c.err); got != c.want {
			t.Errorf("%s: class %v, want %v", c.name, got, c.want)
		}
	}
	// A step failing after the resource exists carries no AWS code: the
	// runtime keeps the finalizer instead of forgetting the resource.
	err := afterCreate("VPC", "vpc-1", apiErr("InvalidParameterValue"))
	if ackrt.AWSErrorCode(err) != "" || vpc.Classify(err) != ackrt.ClassRecoverable {
		t.Errorf("afterCreate error %v has code %q", err, ackrt.AWSErrorCode(err))
	}
}

func TestVPCDelta(t *testing.T) {
	desired := &v1.VPC{Spec: v1.VPCSpec{CIDRBlocks: []*string{aws.String("10.0.0.0/16"), aws.String("10.1.0.0/16")}, EnableDNSHostnames: aws.Bool(true)}}
	latest := &v1.VPC{Spec: v1.VPCSpec{CIDRBlocks: []*string{aws.String("10.1.0.0/16"), aws.String("10.0.0.0/16")},
		EnableDNSHostnames: aws.Bool(true), EnableDNSSupport: aws.Bool(false), InstanceTenancy: aws.String("default"), Tags: []*v1.Tag{tag("a", "1")}}}
	if d := (VPCManager{}).Delta(desired, latest); len(d) != 0 {
		t.Errorf("delta %v; blocks compare as a set and unset fields are not managed", d)
	}
	desired.Spec.EnableDNSSupport = aws.Bool(true)
	desired.Spec.CIDRBlocks = desired.Spec.CIDRBlocks[:1]
	desired.Spec.Tags = []*v1.Tag{}
	if d, want := (VPCManager{}).Delta(desired, latest), []string{"spec.cidrBlocks", "spec.enableDNSSupport", "spec.tags"}; !reflect.DeepEqual(d, want) {
		t.Errorf("delta %v, want %v", d, want)
	}
}

func TestSubnetDeltaAndSync(t *testing.T) {
	desired := &v1.Subnet{Spec: v1.SubnetSpec{CIDRBlock: aws.String("10.0.1.0/24"), VPCID: aws.String("vpc-1"), MapPublicIPOnLaunch: aws.Bool(true)}}
	latest := &v1.Subnet{Spec: v1.SubnetSpec{CIDRBlock: aws.String("10.0.2.0/24"), VPCID: aws.String("vpc-1"), AvailabilityZone: aws.String("us-west-2a"), MapPublicIPOnLaunch: aws.Bool(false)}}
	if d, want := (SubnetManager{}).Delta(desired, latest), []string{"spec.cidrBlock", "spec.mapPublicIPOnLaunch"}; !reflect.DeepEqual(d, want) {
		t.Errorf("delta %v, want %v", d, want)
	}
	if _, err := (SubnetManager{}).Update(t.Context(), ackrt.Env{}, desired, latest, []string{"spec.cidrBlock"}); !errors.As(err, new(*ackrt.TerminalError)) {
		t.Errorf("changing the block: %v, want a terminal error", err)
	}
	latest.Status.State = aws.String("pending")
	if ok, _, _ := (SubnetManager{}).IsSynced(latest); ok {
		t.Error("a pending subnet is synced")
	}
}

func TestSecurityGroupDeltaAndFixedFields(t *testing.T) {
	m := SecurityGroupManager{}
	desired := &v1.SecurityGroup{Spec: v1.SecurityGroupSpec{Name: aws.String("db"), Description: aws.String("d"), VPCID: aws.String("vpc-1"),
		IngressRules: []*v1.IPPermission{{IPProtocol: aws.String("TCP"), FromPort: i64(3306), ToPort: i64(3306), IPRanges: []*v1.IPRange{{CIDRIP: aws.String("10.0.0.0/16")}}}}}}
	latest := desired.DeepCopy()
	latest.Spec.IngressRules = permissions(flatten(desired.Spec.IngressRules, false), false)
	latest.Spec.EgressRules = permissions(observedRules([]ec2types.SecurityGroupRule{defaultEgress}), true)
	if d, want := m.Delta(desired, latest), []string{"spec.egressRules"}; !reflect.DeepEqual(d, want) {
		t.Errorf("delta %v, want %v (the default egress rule is extra)", d, want)
	}
	latest.Spec.EgressRules = nil
	latest.Spec.Name = aws.String("other")
	latest.Status.ID = aws.String("sg-1")
	d := m.Delta(desired, latest)
	if !reflect.DeepEqual(d, []string{"spec.name"}) {
		t.Fatalf("delta %v, want spec.name", d)
	}
	if _, err := m.Update(t.Context(), ackrt.Env{}, desired, latest, d); !errors.As(err, new(*ackrt.TerminalError)) {
		t.Errorf("renaming: %v, want a terminal error", err)
	}
}

func TestExclusiveReferences(t *testing.T) {
	ref := &ackv1alpha1.ResourceReference{From: &ackv1alpha1.NamespacedName{Name: aws.String("v")}}
	g := &v1.SecurityGroup{Spec: v1.SecurityGroupSpec{VPCID: aws.String("vpc-1"), VPCRef: ref}}
	if err := (SecurityGroupManager{}).ResolveReferences(t.Context(), &ackrt.Refs{}, g); !errors.As(err, new(*ackrt.TerminalError)) {
		t.Errorf("vpcID with vpcRef: %v, want terminal", err)
	}
	g = &v1.SecurityGroup{Spec: v1.SecurityGroupSpec{IngressRules: []*v1.IPPermission{{UserIDGroupPairs: []*v1.UserIDGroupPair{{GroupID: aws.String("sg-1"), GroupRef: ref}}}}}}
	if err := (SecurityGroupManager{}).ResolveReferences(t.Context(), &ackrt.Refs{}, g); !errors.As(err, new(*ackrt.TerminalError)) {
		t.Errorf("groupID with groupRef: %v, want terminal", err)
	}
	s := &v1.Subnet{Spec: v1.SubnetSpec{VPCID: aws.String("vpc-1"), VPCRef: ref}}
	if err := (SubnetManager{}).ResolveReferences(t.Context(), &ackrt.Refs{}, s); !errors.As(err, new(*ackrt.TerminalError)) {
		t.Errorf("subnet vpcID with vpcRef: %v, want terminal", err)
	}
	s.Spec.VPCID = aws.String("vpc-resolved")
	(SubnetManager{}).ClearResolvedReferences(s)
	if s.Spec.VPCID != nil {
		t.Error("resolved vpcID kept")
	}
}

func TestAdoptionFields(t *testing.T) {
	v := &v1.VPC{}
	if err := (VPCManager{}).AdoptionFields(v, map[string]string{"vpcID": "vpc-1"}); err != nil || aws.ToString(v.Status.VPCID) != "vpc-1" {
		t.Errorf("vpcID: %v %v", err, v.Status.VPCID)
	}
	s := &v1.Subnet{}
	if err := (SubnetManager{}).AdoptionFields(s, map[string]string{"id": "subnet-1"}); err != nil || aws.ToString(s.Status.SubnetID) != "subnet-1" {
		t.Errorf("id: %v %v", err, s.Status.SubnetID)
	}
	if err := (SecurityGroupManager{}).AdoptionFields(&v1.SecurityGroup{}, map[string]string{"name": "x"}); err == nil {
		t.Error("no id accepted")
	}
}
