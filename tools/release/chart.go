package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
)

// Release coordinates of the static manifests (kro renders its own with
// --namespace kro-system; trellis's live in trellis-system).
const (
	ReleaseName      = "trellis"
	ReleaseNamespace = "trellis-system"
	// KubeVersion is the Kubernetes version the chart is rendered for: the
	// local control plane's (tools/localcluster), the oldest the chart claims
	// to support is in Chart.yaml's kubeVersion.
	KubeVersion = "v1.36.3"
)

// Variant is one static manifest rendered by `make manifests`.
type Variant struct {
	File string
	// Set are --set style values.
	Set []string
}

// Variants are the files under dist/.
var Variants = []Variant{
	{File: "install.yaml"},
	{File: "install-with-ack.yaml", Set: []string{"ack.services={dynamodb,ec2,iam,rds,s3,secretsmanager,sqs}"}},
}

// Values merges --set style values and values files the way helm does.
func Values(set, files []string) (map[string]any, error) {
	opts := values.Options{Values: set, ValueFiles: files}
	return opts.MergeValues(getter.Providers{})
}

// Render renders the chart like `helm template --include-crds`, without a
// cluster, and returns the manifest stream.
func Render(chartDir, namespace string, vals map[string]any) (string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return "", fmt.Errorf("load chart %s: %w", chartDir, err)
	}
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return "", err
	}
	inst := action.NewInstall(&action.Configuration{})
	inst.ClientOnly = true
	inst.DryRun = true
	inst.Replace = true
	inst.IncludeCRDs = true
	inst.ReleaseName = ReleaseName
	inst.Namespace = namespace
	inst.KubeVersion = kv
	rel, err := inst.Run(ch, vals)
	if err != nil {
		return "", fmt.Errorf("render chart: %w", err)
	}
	return rel.Manifest, nil
}

// RenderVariant renders one file of dist/ with its header.
func RenderVariant(chartDir string, v Variant) (string, error) {
	vals, err := Values(v.Set, nil)
	if err != nil {
		return "", err
	}
	m, err := Render(chartDir, ReleaseNamespace, vals)
	if err != nil {
		return "", err
	}
	set := "defaults"
	if len(v.Set) > 0 {
		set = "--set " + strings.Join(v.Set, " --set ")
	}
	header := fmt.Sprintf("# trellis: rendered from charts/trellis by `make manifests` (%s, namespace %s). Do not edit.\n"+
		"# kubectl apply --server-side -f %s\n"+
		"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n",
		set, ReleaseNamespace, v.File, ReleaseNamespace)
	return header + m, nil
}

// WriteManifests renders every variant into outDir.
func WriteManifests(chartDir, outDir string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, v := range Variants {
		m, err := RenderVariant(chartDir, v)
		if err != nil {
			return fmt.Errorf("%s: %w", v.File, err)
		}
		if err := os.WriteFile(filepath.Join(outDir, v.File), []byte(m), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Lint runs helm lint's checks (strict: warnings fail too) for each set of
// values; it returns every problem found.
func Lint(chartDir string, valueSets ...[]string) []error {
	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return []error{err}
	}
	var errs []error
	for _, set := range append([][]string{nil}, valueSets...) {
		vals, err := Values(set, nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l := action.NewLint()
		l.Strict = true
		l.Namespace = ReleaseNamespace
		l.KubeVersion = kv
		res := l.Run([]string{chartDir}, vals)
		for _, e := range res.Errors {
			errs = append(errs, fmt.Errorf("lint %v: %w", set, e))
		}
	}
	return errs
}
