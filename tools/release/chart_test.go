package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const chartDir = "../../charts/trellis"

// TestDistUpToDate fails when dist/ is not what `make manifests` renders from
// the chart now.
func TestDistUpToDate(t *testing.T) {
	for _, v := range Variants {
		want, err := RenderVariant(chartDir, v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("../../dist", v.File))
		if err != nil {
			t.Fatalf("%v (run `make manifests`)", err)
		}
		if string(got) != want {
			t.Errorf("dist/%s is stale: run `make manifests` and commit the result", v.File)
		}
	}
}

// TestChartCRDsUpToDate: the chart's CRDs are copies of config/crd (the one
// source, generated there); `make manifests` copies them.
func TestChartCRDsUpToDate(t *testing.T) {
	for src, dst := range map[string]string{"../../config/crd/bases": chartDir + "/crds", "../../config/crd/ack": chartDir + "/files/ack"} {
		srcFiles, _ := filepath.Glob(filepath.Join(src, "*.yaml"))
		dstFiles, _ := filepath.Glob(filepath.Join(dst, "*.yaml"))
		if len(srcFiles) == 0 || len(srcFiles) != len(dstFiles) {
			t.Errorf("%s has %d CRD files, %s %d: run `make manifests`", src, len(srcFiles), dst, len(dstFiles))
		}
		for _, f := range srcFiles {
			a, _ := os.ReadFile(f)
			b, err := os.ReadFile(filepath.Join(dst, filepath.Base(f)))
			if err != nil || !bytes.Equal(a, b) {
				t.Errorf("%s differs from %s: run `make manifests`", filepath.Join(dst, filepath.Base(f)), f)
			}
		}
	}
}

func TestLint(t *testing.T) {
	for _, err := range Lint(chartDir, LintValueSets...) {
		t.Error(err)
	}
}

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name        string            `json:"name"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	AggregationRule *struct {
		ClusterRoleSelectors []struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"clusterRoleSelectors"`
	} `json:"aggregationRule"`
	Rules []struct {
		APIGroups []string `json:"apiGroups"`
		Resources []string `json:"resources"`
		Verbs     []string `json:"verbs"`
	} `json:"rules"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Args []string `json:"args"`
				} `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

func render(t *testing.T, set ...string) map[string]object {
	t.Helper()
	vals, err := Values(set, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Render(chartDir, ReleaseNamespace, vals)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]object{}
	for _, doc := range strings.Split(m, "\n---") {
		var o object
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		if o.Kind != "" {
			out[o.Kind+"/"+o.Metadata.Name] = o
		}
	}
	return out
}

// hasWildcard: the role grants something in every API group.
func hasWildcard(o object) bool {
	for _, r := range o.Rules {
		for _, g := range r.APIGroups {
			if g == "*" {
				return true
			}
		}
	}
	return false
}

func args(t *testing.T, objs map[string]object) string {
	t.Helper()
	d, ok := objs["Deployment/trellis"]
	if !ok || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("no Deployment/trellis with one container")
	}
	return strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
}

func TestRBACModes(t *testing.T) {
	def := render(t)
	agg, ok := def["ClusterRole/trellis:controller"]
	if !ok || agg.AggregationRule == nil || len(agg.AggregationRule.ClusterRoleSelectors) != 1 ||
		agg.AggregationRule.ClusterRoleSelectors[0].MatchLabels["rbac.kro.run/aggregate-to-controller"] != "true" {
		t.Fatalf("default: trellis:controller is not aggregated on kro's label: %+v", agg)
	}
	static := def["ClusterRole/trellis:controller:static"]
	if static.Metadata.Labels["rbac.kro.run/aggregate-to-controller"] != "true" || len(static.Rules) == 0 {
		t.Errorf("default: the static role does not aggregate into the controller's: %+v", static)
	}
	for k, o := range def {
		if hasWildcard(o) {
			t.Errorf("default (aggregation): %s grants *", k)
		}
		if o.Kind == "CustomResourceDefinition" && strings.Contains(o.Metadata.Name, "services.k8s.aws") {
			t.Errorf("default: ACK CRD %s rendered though ack.services is empty", o.Metadata.Name)
		}
	}
	if a := args(t, def); !strings.Contains(a, "--ack-services=none") || strings.Contains(a, "--leader-elect") {
		t.Errorf("default args: %s", a)
	}
	if _, ok := def["PodDisruptionBudget/trellis"]; ok {
		t.Errorf("default (1 replica): a PodDisruptionBudget")
	}

	un := render(t, "rbac.mode=unrestricted")
	if !hasWildcard(un["ClusterRole/trellis:controller"]) {
		t.Errorf("unrestricted: trellis:controller does not grant */*/*")
	}
	if _, ok := un["ClusterRole/trellis:controller:static"]; ok {
		t.Errorf("unrestricted: static role rendered too")
	}

	ha := render(t, "deployment.replicas=2")
	if _, ok := ha["PodDisruptionBudget/trellis"]; !ok {
		t.Errorf("2 replicas: no PodDisruptionBudget")
	}
	if a := args(t, ha); !strings.Contains(a, "--leader-elect --leader-election-namespace=trellis-system") {
		t.Errorf("2 replicas: no leader election in %s", a)
	}

	sh := render(t, "deployment.replicas=3", "sharding.enabled=true")
	if a := args(t, sh); !strings.Contains(a, "--leader-elect --leader-election-namespace=trellis-system --sharding") {
		t.Errorf("3 sharded replicas: args %s", a)
	}
	if a := args(t, render(t, "sharding.enabled=true")); !strings.Contains(a, "--leader-election-namespace=trellis-system --sharding") || strings.Contains(a, "--leader-elect ") {
		t.Errorf("1 sharded replica: args %s", a)
	}
	if a := args(t, def); strings.Contains(a, "--sharding") {
		t.Errorf("default args shard: %s", a)
	}

	ack := render(t, "ack.services={s3}", "aws.region=eu-west-1")
	crd, ok := ack["CustomResourceDefinition/buckets.s3.services.k8s.aws"]
	if !ok || crd.Metadata.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("ack.services={s3}: no Bucket CRD kept on uninstall: %+v", crd)
	}
	if _, ok := ack["CustomResourceDefinition/tables.dynamodb.services.k8s.aws"]; ok {
		t.Errorf("ack.services={s3}: the DynamoDB CRD is rendered too")
	}
	if _, ok := ack["ClusterRole/trellis:controller:ack"]; !ok {
		t.Errorf("ack.services={s3}: no ACK role")
	}
	if a := args(t, ack); !strings.Contains(a, "--ack-services=s3") || !strings.Contains(a, "--aws-region=eu-west-1") {
		t.Errorf("ack args: %s", a)
	}

	for _, bad := range [][]string{{"rbac.mode=admin"}, {"ack.services={ec3}"}, {"metrics.serviceMonitor.enabled=true"}} {
		vals, _ := Values(bad, nil)
		if _, err := Render(chartDir, ReleaseNamespace, vals); err == nil {
			t.Errorf("%v rendered without error", bad)
		}
	}
}
