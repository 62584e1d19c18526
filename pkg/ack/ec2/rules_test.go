package ec2

import (
	"reflect"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	v1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
)

func i64(v int64) *int64 { return &v }

func keys(rs []rule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.String()+" "+r.description)
	}
	sort.Strings(out)
	return out
}

// The seed's rule (protocol "TCP") matches what EC2 stores ("tcp").
func TestSeedRuleMatchesObserved(t *testing.T) {
	desired := flatten([]*v1.IPPermission{{
		FromPort: i64(3306), ToPort: i64(3306), IPProtocol: aws.String("TCP"),
		IPRanges: []*v1.IPRange{{CIDRIP: aws.String("10.0.0.0/16"), Description: aws.String("db test")}},
	}}, false)
	observed := observedRules([]ec2types.SecurityGroupRule{{
		SecurityGroupRuleId: aws.String("sgr-1"), IsEgress: aws.Bool(false), IpProtocol: aws.String("tcp"),
		FromPort: aws.Int32(3306), ToPort: aws.Int32(3306), CidrIpv4: aws.String("10.0.0.0/16"), Description: aws.String("db test"),
	}})
	if add, revoke := diffRules(desired, observed); len(add)+len(revoke) != 0 {
		t.Fatalf("add %v, revoke %v; want no change", keys(add), keys(revoke))
	}
}

var defaultEgress = ec2types.SecurityGroupRule{
	SecurityGroupRuleId: aws.String("sgr-default"), IsEgress: aws.Bool(true), IpProtocol: aws.String("-1"),
	FromPort: aws.Int32(-1), ToPort: aws.Int32(-1), CidrIpv4: aws.String("0.0.0.0/0"),
}

// As with ACK, AWS's default egress rule is revoked unless the spec has it.
func TestDefaultEgressRule(t *testing.T) {
	observed := observedRules([]ec2types.SecurityGroupRule{defaultEgress})
	add, revoke := diffRules(nil, observed)
	if len(add) != 0 || len(revoke) != 1 || revoke[0].id != "sgr-default" {
		t.Fatalf("no egress rules wanted: add %v, revoke %v; want the default rule revoked", keys(add), keys(revoke))
	}
	// ACK's shape of the default rule (ports -1), or no ports at all: kept.
	for _, p := range []*v1.IPPermission{
		{IPProtocol: aws.String("-1"), FromPort: i64(-1), ToPort: i64(-1), IPRanges: []*v1.IPRange{{CIDRIP: aws.String("0.0.0.0/0")}}},
		{IPProtocol: aws.String("-1"), IPRanges: []*v1.IPRange{{CIDRIP: aws.String("0.0.0.0/0")}}},
	} {
		if add, revoke := diffRules(flatten([]*v1.IPPermission{p}, true), observed); len(add)+len(revoke) != 0 {
			t.Errorf("default rule in the spec: add %v, revoke %v; want no change", keys(add), keys(revoke))
		}
	}
	// The same rule as ingress is another rule.
	if add, _ := diffRules(flatten([]*v1.IPPermission{{IPProtocol: aws.String("-1"),
		IPRanges: []*v1.IPRange{{CIDRIP: aws.String("0.0.0.0/0")}}}}, false), observed); len(add) != 1 {
		t.Errorf("ingress rule seen as the egress one: add %v", keys(add))
	}
}

// One permission with two ranges and two permissions with one each are the
// same rules; EC2 merges them either way.
func TestGroupingDoesNotMatter(t *testing.T) {
	merged := flatten([]*v1.IPPermission{{IPProtocol: aws.String("tcp"), FromPort: i64(80), ToPort: i64(80),
		IPRanges: []*v1.IPRange{{CIDRIP: aws.String("10.0.0.0/8")}, {CIDRIP: aws.String("192.168.0.0/16")}}}}, false)
	split := flatten([]*v1.IPPermission{
		{IPProtocol: aws.String("6"), FromPort: i64(80), ToPort: i64(80), IPRanges: []*v1.IPRange{{CIDRIP: aws.String("192.168.0.0/16")}}},
		{IPProtocol: aws.String("tcp"), FromPort: i64(80), ToPort: i64(80), IPRanges: []*v1.IPRange{{CIDRIP: aws.String("10.0.0.0/8")}}},
	}, false)
	if rulesDiffer(merged, split) {
		t.Fatalf("%v differs from %v", keys(merged), keys(split))
	}
}

// A changed description is a revoke of the old rule and an authorize of
// the new one; a changed port range likewise; extra rules are revoked.
func TestDiffRules(t *testing.T) {
	observed := observedRules([]ec2types.SecurityGroupRule{
		{SecurityGroupRuleId: aws.String("sgr-a"), IsEgress: aws.Bool(false), IpProtocol: aws.String("tcp"),
			FromPort: aws.Int32(443), ToPort: aws.Int32(443), CidrIpv4: aws.String("10.0.0.0/8"), Description: aws.String("old")},
		{SecurityGroupRuleId: aws.String("sgr-b"), IsEgress: aws.Bool(false), IpProtocol: aws.String("tcp"),
			FromPort: aws.Int32(22), ToPort: aws.Int32(22), CidrIpv6: aws.String("::/0")},
		{SecurityGroupRuleId: aws.String("sgr-c"), IsEgress: aws.Bool(false), IpProtocol: aws.String("tcp"),
			FromPort: aws.Int32(5432), ToPort: aws.Int32(5432), ReferencedGroupInfo: &ec2types.ReferencedSecurityGroup{GroupId: aws.String("sg-peer"), UserId: aws.String("123456789012")}},
	})
	desired := flatten([]*v1.IPPermission{
		{IPProtocol: aws.String("tcp"), FromPort: i64(443), ToPort: i64(443), IPRanges: []*v1.IPRange{{CIDRIP: aws.String("10.0.0.0/8"), Description: aws.String("new")}}},
		{IPProtocol: aws.String("tcp"), FromPort: i64(5432), ToPort: i64(5432), UserIDGroupPairs: []*v1.UserIDGroupPair{{GroupID: aws.String("sg-peer")}}},
		{IPProtocol: aws.String("udp"), FromPort: i64(53), ToPort: i64(53), PrefixListIDs: []*v1.PrefixListID{{PrefixListID: aws.String("pl-1")}}},
	}, false)
	add, revoke := diffRules(desired, observed)
	var revoked []string
	for _, r := range revoke {
		revoked = append(revoked, r.id)
	}
	sort.Strings(revoked)
	if !reflect.DeepEqual(revoked, []string{"sgr-a", "sgr-b"}) {
		t.Errorf("revoked %v, want sgr-a (old description) and sgr-b (not in the spec)", revoked)
	}
	if want := []string{"ingress tcp 443-443 10.0.0.0/8 new", "ingress udp 53-53 pl-1 "}; !reflect.DeepEqual(keys(add), want) {
		t.Errorf("added %q, want %q", keys(add), want)
	}
}

// Protocols other than tcp, udp, icmp and icmpv6 cover all ports, whatever
// ports the spec gives.
func TestPortsIgnoredForOtherProtocols(t *testing.T) {
	a := flatten([]*v1.IPPermission{{IPProtocol: aws.String("50"), FromPort: i64(1), ToPort: i64(2), IPRanges: []*v1.IPRange{{CIDRIP: aws.String("1.2.3.4/32")}}}}, false)
	b := observedRules([]ec2types.SecurityGroupRule{{IsEgress: aws.Bool(false), IpProtocol: aws.String("50"), FromPort: aws.Int32(-1), ToPort: aws.Int32(-1), CidrIpv4: aws.String("1.2.3.4/32")}})
	if rulesDiffer(a, b) {
		t.Fatalf("%v differs from %v", keys(a), keys(b))
	}
	c := flatten([]*v1.IPPermission{{IPProtocol: aws.String("icmp"), FromPort: i64(8), ToPort: i64(0), IPRanges: []*v1.IPRange{{CIDRIP: aws.String("1.2.3.4/32")}}}}, false)
	d := flatten([]*v1.IPPermission{{IPProtocol: aws.String("icmp"), FromPort: i64(-1), ToPort: i64(-1), IPRanges: []*v1.IPRange{{CIDRIP: aws.String("1.2.3.4/32")}}}}, false)
	if !rulesDiffer(c, d) {
		t.Fatal("icmp type 8 and all icmp compare equal")
	}
}

// The observed rules grouped into the spec shape (adoption) flatten back
// into the same rules, and the EC2 permission of a rule has its one peer.
func TestPermissionsRoundTrip(t *testing.T) {
	observed := observedRules([]ec2types.SecurityGroupRule{
		defaultEgress,
		{IsEgress: aws.Bool(false), IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), CidrIpv4: aws.String("10.0.0.0/8"), Description: aws.String("web")},
		{IsEgress: aws.Bool(false), IpProtocol: aws.String("tcp"), FromPort: aws.Int32(80), ToPort: aws.Int32(80), CidrIpv6: aws.String("::/0")},
		{IsEgress: aws.Bool(false), IpProtocol: aws.String("tcp"), FromPort: aws.Int32(443), ToPort: aws.Int32(443), ReferencedGroupInfo: &ec2types.ReferencedSecurityGroup{GroupId: aws.String("sg-1")}},
	})
	in, eg := permissions(observed, false), permissions(observed, true)
	if len(in) != 2 || len(eg) != 1 || len(in[0].IPRanges) != 1 || len(in[0].IPv6Ranges) != 1 {
		t.Fatalf("grouped into %d ingress and %d egress permissions: %+v", len(in), len(eg), in)
	}
	back := append(flatten(in, false), flatten(eg, true)...)
	if rulesDiffer(back, observed) {
		t.Fatalf("round trip: %v, observed %v", keys(back), keys(observed))
	}
	all := observed[0].ipPermission()
	if all.FromPort != nil || aws.ToString(all.IpProtocol) != "-1" || len(all.IpRanges) != 1 {
		t.Errorf("all-traffic permission %+v", all)
	}
	g := observed[3].ipPermission()
	if len(g.UserIdGroupPairs) != 1 || aws.ToString(g.UserIdGroupPairs[0].GroupId) != "sg-1" || aws.ToInt32(g.FromPort) != 443 {
		t.Errorf("group permission %+v", g)
	}
}
