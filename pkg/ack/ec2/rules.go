package ec2

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	v1 "github.com/trellis-dev/trellis/api/ack/ec2/v1alpha1"
)

// rule is one security group rule as EC2 stores it: a direction, protocol
// and port range with a single peer (a CIDR, a prefix list or a group).
// ACK's IPPermission lists several peers per protocol and port range, and
// EC2 merges permissions that share one; comparing single rules makes the
// diff independent of how the spec groups them.
type rule struct {
	egress   bool
	protocol string
	from, to int64
	// kind is cidr4, cidr6, prefix or group; peer its value.
	kind, peer string
	// peering is the VPC peering connection of a group peer.
	peering     string
	description string
	// id is the security group rule id, for observed rules.
	id string
}

// key identifies a rule, description included: EC2 refuses a second rule
// that differs only in its description, so such a change is a revoke of
// the old rule followed by an authorize of the new one.
func (r rule) key() string {
	return fmt.Sprintf("%t|%s|%d|%d|%s|%s|%s|%s", r.egress, r.protocol, r.from, r.to, r.kind, r.peer, r.peering, r.description)
}

func (r rule) String() string {
	dir := "ingress"
	if r.egress {
		dir = "egress"
	}
	return fmt.Sprintf("%s %s %d-%d %s", dir, r.protocol, r.from, r.to, r.peer)
}

// protocolNames are the protocols EC2 reports by name when given by number.
var protocolNames = map[string]string{"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}

// normalizeProtocol lowercases a protocol and names the usual numbers, as
// EC2 does when it stores a rule (the seed's "TCP" becomes "tcp").
func normalizeProtocol(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if n, ok := protocolNames[p]; ok {
		return n
	}
	return p
}

// normalizePorts gives the port range EC2 stores: only tcp, udp, icmp and
// icmpv6 have one; every other protocol covers all ports (-1).
func normalizePorts(protocol string, from, to *int64) (int64, int64) {
	switch protocol {
	case "tcp", "udp", "icmp", "icmpv6":
		f, t := int64(-1), int64(-1)
		if from != nil {
			f = *from
		}
		if to != nil {
			t = *to
		}
		return f, t
	}
	return -1, -1
}

// flatten splits permissions into single rules.
func flatten(perms []*v1.IPPermission, egress bool) []rule {
	var out []rule
	for _, p := range perms {
		if p == nil {
			continue
		}
		base := rule{egress: egress, protocol: normalizeProtocol(aws.ToString(p.IPProtocol))}
		base.from, base.to = normalizePorts(base.protocol, p.FromPort, p.ToPort)
		for _, r := range p.IPRanges {
			if r != nil {
				out = append(out, base.with("cidr4", aws.ToString(r.CIDRIP), "", r.Description))
			}
		}
		for _, r := range p.IPv6Ranges {
			if r != nil {
				out = append(out, base.with("cidr6", aws.ToString(r.CIDRIPv6), "", r.Description))
			}
		}
		for _, r := range p.PrefixListIDs {
			if r != nil {
				out = append(out, base.with("prefix", aws.ToString(r.PrefixListID), "", r.Description))
			}
		}
		for _, g := range p.UserIDGroupPairs {
			if g == nil {
				continue
			}
			peer := aws.ToString(g.GroupID)
			if peer == "" {
				peer = aws.ToString(g.GroupName)
			}
			out = append(out, base.with("group", peer, aws.ToString(g.VPCPeeringConnectionID), g.Description))
		}
	}
	return out
}

func (r rule) with(kind, peer, peering string, description *string) rule {
	r.kind, r.peer, r.peering, r.description = kind, peer, peering, aws.ToString(description)
	return r
}

// observedRules converts DescribeSecurityGroupRules output into rules.
func observedRules(rs []ec2types.SecurityGroupRule) []rule {
	out := make([]rule, 0, len(rs))
	for _, sr := range rs {
		r := rule{
			egress:      aws.ToBool(sr.IsEgress),
			protocol:    normalizeProtocol(aws.ToString(sr.IpProtocol)),
			description: aws.ToString(sr.Description),
			id:          aws.ToString(sr.SecurityGroupRuleId),
		}
		r.from, r.to = normalizePorts(r.protocol, int64p(sr.FromPort), int64p(sr.ToPort))
		switch {
		case sr.CidrIpv4 != nil:
			r.kind, r.peer = "cidr4", *sr.CidrIpv4
		case sr.CidrIpv6 != nil:
			r.kind, r.peer = "cidr6", *sr.CidrIpv6
		case sr.PrefixListId != nil:
			r.kind, r.peer = "prefix", *sr.PrefixListId
		case sr.ReferencedGroupInfo != nil:
			r.kind, r.peer = "group", aws.ToString(sr.ReferencedGroupInfo.GroupId)
			r.peering = aws.ToString(sr.ReferencedGroupInfo.VpcPeeringConnectionId)
		}
		out = append(out, r)
	}
	return out
}

// diffRules returns the desired rules EC2 lacks and the observed rules the
// spec does not have.
func diffRules(desired, observed []rule) (add, revoke []rule) {
	want := map[string]bool{}
	for _, r := range desired {
		want[r.key()] = true
	}
	have := map[string]bool{}
	for _, r := range observed {
		have[r.key()] = true
		if !want[r.key()] {
			revoke = append(revoke, r)
		}
	}
	seen := map[string]bool{}
	for _, r := range desired {
		if !have[r.key()] && !seen[r.key()] {
			add = append(add, r)
		}
		seen[r.key()] = true
	}
	return add, revoke
}

// rulesDiffer reports whether the spec's rules differ from the observed ones.
func rulesDiffer(desired, observed []rule) bool {
	add, revoke := diffRules(desired, observed)
	return len(add)+len(revoke) > 0
}

// ipPermission is the EC2 permission that authorizes r.
func (r rule) ipPermission() ec2types.IpPermission {
	p := ec2types.IpPermission{IpProtocol: aws.String(r.protocol)}
	if r.protocol != "-1" {
		p.FromPort, p.ToPort = aws.Int32(int32(r.from)), aws.Int32(int32(r.to))
	}
	desc := strp(r.description)
	switch r.kind {
	case "cidr4":
		p.IpRanges = []ec2types.IpRange{{CidrIp: aws.String(r.peer), Description: desc}}
	case "cidr6":
		p.Ipv6Ranges = []ec2types.Ipv6Range{{CidrIpv6: aws.String(r.peer), Description: desc}}
	case "prefix":
		p.PrefixListIds = []ec2types.PrefixListId{{PrefixListId: aws.String(r.peer), Description: desc}}
	case "group":
		pair := ec2types.UserIdGroupPair{Description: desc, VpcPeeringConnectionId: strp(r.peering)}
		if strings.HasPrefix(r.peer, "sg-") {
			pair.GroupId = aws.String(r.peer)
		} else {
			pair.GroupName = aws.String(r.peer)
		}
		p.UserIdGroupPairs = []ec2types.UserIdGroupPair{pair}
	}
	return p
}

// permissions groups rules of one direction back into ACK's IPPermission
// shape, one permission per protocol and port range, in observed order.
func permissions(rules []rule, egress bool) []*v1.IPPermission {
	out := []*v1.IPPermission{}
	byRange := map[string]*v1.IPPermission{}
	for _, r := range rules {
		if r.egress != egress {
			continue
		}
		k := fmt.Sprintf("%s|%d|%d", r.protocol, r.from, r.to)
		p := byRange[k]
		if p == nil {
			from, to := r.from, r.to
			p = &v1.IPPermission{IPProtocol: aws.String(r.protocol), FromPort: &from, ToPort: &to}
			byRange[k] = p
			out = append(out, p)
		}
		desc := strp(r.description)
		switch r.kind {
		case "cidr4":
			p.IPRanges = append(p.IPRanges, &v1.IPRange{CIDRIP: aws.String(r.peer), Description: desc})
		case "cidr6":
			p.IPv6Ranges = append(p.IPv6Ranges, &v1.IPv6Range{CIDRIPv6: aws.String(r.peer), Description: desc})
		case "prefix":
			p.PrefixListIDs = append(p.PrefixListIDs, &v1.PrefixListID{PrefixListID: aws.String(r.peer), Description: desc})
		case "group":
			p.UserIDGroupPairs = append(p.UserIDGroupPairs, &v1.UserIDGroupPair{GroupID: aws.String(r.peer),
				VPCPeeringConnectionID: strp(r.peering), Description: desc})
		}
	}
	return out
}

// statusRules is status.rules: DescribeSecurityGroupRules as ACK reports it.
func statusRules(rs []ec2types.SecurityGroupRule) []*v1.SecurityGroupRule {
	out := make([]*v1.SecurityGroupRule, 0, len(rs))
	for _, r := range rs {
		sr := &v1.SecurityGroupRule{
			CIDRIPv4: r.CidrIpv4, CIDRIPv6: r.CidrIpv6, Description: r.Description,
			FromPort: int64p(r.FromPort), ToPort: int64p(r.ToPort), IPProtocol: r.IpProtocol,
			IsEgress: r.IsEgress, PrefixListID: r.PrefixListId, SecurityGroupRuleID: r.SecurityGroupRuleId,
		}
		if len(r.Tags) > 0 {
			sr.Tags = tagsFrom(r.Tags)
		}
		out = append(out, sr)
	}
	return out
}
