package rds

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	ackv1alpha1 "github.com/trellis-dev/trellis/api/ack/core/v1alpha1"
	v1 "github.com/trellis-dev/trellis/api/ack/rds/v1alpha1"
	ackrt "github.com/trellis-dev/trellis/pkg/ack/runtime"
)

func group(subnets ...string) *v1.DBSubnetGroup {
	return &v1.DBSubnetGroup{Spec: v1.DBSubnetGroupSpec{Name: aws.String("grp"), Description: aws.String("d"), SubnetIDs: ptrs(subnets)}}
}

func TestSubnetGroupDelta(t *testing.T) {
	m := DBSubnetGroupManager{}
	if d := m.Delta(group("b", "a"), group("a", "b")); len(d) != 0 {
		t.Fatalf("order matters: %v", d)
	}
	desired := group("a", "c")
	desired.Spec.Description = aws.String("new")
	desired.Spec.Tags = []*v1.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
	if d := m.Delta(desired, group("a", "b")); !reflect.DeepEqual(d, []string{"spec.description", "spec.subnetIDs", "spec.tags"}) {
		t.Fatalf("delta %v", d)
	}
	// Unset fields are not managed.
	if d := m.Delta(&v1.DBSubnetGroup{Spec: v1.DBSubnetGroupSpec{Name: aws.String("grp")}}, group("a")); len(d) != 0 {
		t.Fatalf("delta %v", d)
	}
}

func TestSubnetGroupNameImmutable(t *testing.T) {
	g := group("a")
	arn := ackv1alpha1.ARN("arn:aws:rds:us-west-2:123456789012:subgrp:grp")
	g.Status.ACKResourceMetadata = &ackv1alpha1.ResourceMetadata{ARN: &arn}
	g.Spec.Name = aws.String("GRP") // RDS names are lower case
	if err := (DBSubnetGroupManager{}).Validate(g); err != nil {
		t.Fatal(err)
	}
	g.Spec.Name = aws.String("other")
	if err := (DBSubnetGroupManager{}).Validate(g); err == nil || !strings.Contains(err.Error(), "spec.name is immutable") {
		t.Fatalf("%v", err)
	}
}

// ModifyDBSubnetGroup needs the whole subnet list: the observed one is
// sent when the spec changes only the description.
func TestSubnetGroupModifySendsSubnets(t *testing.T) {
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		forms = append(forms, r.Form)
		w.Header().Set("Content-Type", "text/xml")
		g := `<DBSubnetGroup><DBSubnetGroupName>grp</DBSubnetGroupName><DBSubnetGroupDescription>new</DBSubnetGroupDescription>
<SubnetGroupStatus>Complete</SubnetGroupStatus><Subnets><Subnet><SubnetIdentifier>a</SubnetIdentifier></Subnet>
<Subnet><SubnetIdentifier>b</SubnetIdentifier></Subnet></Subnets></DBSubnetGroup>`
		if r.Form.Get("Action") == "ModifyDBSubnetGroup" {
			_, _ = w.Write([]byte(`<ModifyDBSubnetGroupResponse><ModifyDBSubnetGroupResult>` + g + `</ModifyDBSubnetGroupResult></ModifyDBSubnetGroupResponse>`))
			return
		}
		_, _ = w.Write([]byte(`<DescribeDBSubnetGroupsResponse><DescribeDBSubnetGroupsResult><DBSubnetGroups>` + g +
			`</DBSubnetGroups></DescribeDBSubnetGroupsResult></DescribeDBSubnetGroupsResponse>`))
	}))
	defer srv.Close()
	env := ackrt.Env{AWS: aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""), BaseEndpoint: aws.String(srv.URL)}}
	desired := &v1.DBSubnetGroup{Spec: v1.DBSubnetGroupSpec{Name: aws.String("grp"), Description: aws.String("new")}}
	latest := group("a", "b")
	m := DBSubnetGroupManager{}
	if _, err := m.Update(context.Background(), env, desired, latest, m.Delta(desired, latest)); err != nil {
		t.Fatal(err)
	}
	f := forms[0]
	if f.Get("Action") != "ModifyDBSubnetGroup" || f.Get("SubnetIds.SubnetIdentifier.1") != "a" || f.Get("SubnetIds.SubnetIdentifier.2") != "b" {
		t.Fatalf("%v", f)
	}
}
