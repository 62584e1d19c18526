package ack

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestServicesFlag(t *testing.T) {
	all := strings.Join(ServiceNames(), ",")
	for _, tc := range []struct {
		flag string
		want string
		err  bool
	}{
		{"all", all, false},
		{"", all, false},
		{"none", "", false},
		{"s3", "s3", false},
		{" S3 , dynamodb", "s3,dynamodb", false},
		{"nosuch", "", true},
	} {
		got, err := Options{Services: tc.flag}.enabled()
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v", tc.flag, err)
			continue
		}
		var names []string
		for _, s := range got {
			names = append(names, s.name)
		}
		if strings.Join(names, ",") != tc.want {
			t.Errorf("%q: services %v, want %s", tc.flag, names, tc.want)
		}
	}
}

func TestFlagDefaults(t *testing.T) {
	var o Options
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse([]string{"--ack-services=none", "--ack-deletion-policy=retain", "--aws-region=eu-central-1", "--ack-install-crds=false"}); err != nil {
		t.Fatal(err)
	}
	if o.Services != "none" || o.Runtime.DeletionPolicy != "retain" || o.Runtime.Region != "eu-central-1" || o.InstallCRDs {
		t.Fatalf("%+v", o)
	}
	d := DefaultOptions()
	if !d.InstallCRDs || d.Runtime.ResyncPeriod != DefaultResyncPeriod || d.Runtime.DefaultAccountID != DefaultAccountID || d.Services != "all" {
		t.Fatalf("defaults %+v", d)
	}
	// Setup with no services does nothing (and needs no cluster).
	if err := Setup(nil, Options{Services: "none"}); err != nil {
		t.Fatal(err)
	}
}
