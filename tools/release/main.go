// Command release builds trellis's install artefacts offline: the static
// manifests rendered from charts/trellis with the Helm SDK, a lint of the
// chart, and the container image as an OCI layout built with
// go-containerregistry (no Docker). It is its own module because Helm's
// Kubernetes libraries are newer than trellis's. The Makefile runs it:
//
//	make manifests   release manifests -chart charts/trellis -out dist
//	make image       release image -bin linux/amd64=… -bin linux/arm64=… -out _output/image
//
// and `make test` runs this module's tests (stale dist/, lint, image).
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "manifests":
		err = cmdManifests(os.Args[2:])
	case "template":
		err = cmdTemplate(os.Args[2:])
	case "lint":
		err = cmdLint(os.Args[2:])
	case "image":
		err = cmdImage(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "release %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: release manifests|template|lint|image [flags]  (-h for each)`)
	os.Exit(2)
}

func cmdManifests(args []string) error {
	fs := flag.NewFlagSet("manifests", flag.ExitOnError)
	chart := fs.String("chart", "charts/trellis", "chart directory")
	out := fs.String("out", "dist", "output directory")
	_ = fs.Parse(args)
	return WriteManifests(*chart, *out)
}

func cmdTemplate(args []string) error {
	fs := flag.NewFlagSet("template", flag.ExitOnError)
	chart := fs.String("chart", "charts/trellis", "chart directory")
	ns := fs.String("namespace", ReleaseNamespace, "release namespace")
	var set, files multiFlag
	fs.Var(&set, "set", "a value, as helm --set (repeatable)")
	fs.Var(&files, "f", "a values file (repeatable)")
	_ = fs.Parse(args)
	vals, err := Values(set, files)
	if err != nil {
		return err
	}
	m, err := Render(*chart, *ns, vals)
	if err != nil {
		return err
	}
	_, err = os.Stdout.WriteString(m)
	return err
}

func cmdLint(args []string) error {
	fs := flag.NewFlagSet("lint", flag.ExitOnError)
	chart := fs.String("chart", "charts/trellis", "chart directory")
	_ = fs.Parse(args)
	errs := Lint(*chart, LintValueSets...)
	for _, e := range errs {
		fmt.Fprintln(os.Stderr, e)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%d problem(s)", len(errs))
	}
	fmt.Println("chart lint: ok")
	return nil
}

// LintValueSets are the values combinations lint and the tests check besides
// the defaults.
var LintValueSets = [][]string{
	{"rbac.mode=unrestricted"},
	{"ack.services={dynamodb,s3}", "aws.region=eu-west-1", "aws.endpointURL=http://localhost:4566", "aws.credentials.secretName=aws"},
	{"deployment.replicas=2", "metrics.service.create=true", "metrics.serviceMonitor.enabled=true", "featureGates.CELOmitFunction=true"},
}

func cmdImage(args []string) error {
	fs := flag.NewFlagSet("image", flag.ExitOnError)
	var bins multiFlag
	fs.Var(&bins, "bin", "platform=path of a static trellis binary, e.g. linux/amd64=bin/linux_amd64/trellis (repeatable)")
	certs := fs.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle to ship (the build machine's)")
	version := fs.String("version", "dev", "org.opencontainers.image.version")
	revision := fs.String("revision", "", "org.opencontainers.image.revision")
	ref := fs.String("ref", "", "reference name in the layout, e.g. ghcr.io/trellis-dev/trellis:v0.1.0")
	out := fs.String("out", "_output/image", "OCI layout directory (a tar of it is written next to it, <out>.tar)")
	_ = fs.Parse(args)
	o := ImageOptions{Binaries: map[string]string{}, CACerts: *certs, Version: *version, Revision: *revision, Ref: *ref, Created: sourceDate()}
	for _, b := range bins {
		p, path, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-bin %q: want platform=path", b)
		}
		o.Binaries[p] = path
	}
	if len(o.Binaries) == 0 {
		return fmt.Errorf("no -bin given")
	}
	idx, err := BuildIndex(o)
	if err != nil {
		return err
	}
	if err := WriteImage(idx, o.Ref, *out, *out+".tar"); err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("image: %s (OCI layout) and %s.tar, index %s, platforms %s\n", *out, *out, d, strings.Join(sortedKeys(o.Binaries), " "))
	return nil
}

// sourceDate is SOURCE_DATE_EPOCH when set (reproducible builds), else now.
func sourceDate() time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err == nil {
			return time.Unix(sec, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}
