// Command gen regenerates the compiled-in schemas of the builtin resolver
// from a running kube-apiserver: for every group-version in builtin's list it
// stores the discovery resource list (kinds, plurals, scopes) and the OpenAPI
// v3 document, descriptions stripped, gzip-compressed.
//
// By default it starts a local control plane (pkg/localcluster); with
// -kubeconfig it reads any cluster instead.
//
//	go generate ./pkg/graph/resolver/builtin
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/trellis-dev/trellis/pkg/localcluster"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "read this cluster instead of starting a local one")
	out := flag.String("out", "data", "output directory")
	flag.Parse()

	var cfg *rest.Config
	var err error
	if *kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", *kubeconfig)
	} else {
		var c *localcluster.Cluster
		c, err = localcluster.Start(context.Background(), localcluster.Options{Log: os.Stderr})
		if err == nil {
			defer c.Stop()
			cfg = c.Config
		}
	}
	if err != nil {
		log.Fatal(err)
	}
	if err := generate(cfg, *out); err != nil {
		log.Fatal(err)
	}
}

func generate(cfg *rest.Config, out string) error {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	paths, err := dc.OpenAPIV3().Paths()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, gv := range groupVersions {
		rl, err := dc.ServerResourcesForGroupVersion(gv)
		if err != nil {
			return fmt.Errorf("discovery %s: %w", gv, err)
		}
		f := file{GroupVersion: gv}
		for _, r := range rl.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // subresources
			}
			f.Resources = append(f.Resources, resource{Kind: r.Kind, Plural: r.Name, Namespaced: r.Namespaced})
		}
		sort.Slice(f.Resources, func(i, j int) bool { return f.Resources[i].Kind < f.Resources[j].Kind })
		p, ok := paths[openAPIPath(gv)]
		if !ok {
			return fmt.Errorf("no OpenAPI v3 document for %s", gv)
		}
		raw, err := p.Schema("application/json")
		if err != nil {
			return fmt.Errorf("openapi %s: %w", gv, err)
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		comps, _ := doc["components"].(map[string]any)
		schemas, _ := comps["schemas"].(map[string]any)
		stripDescriptions(schemas)
		f.Schemas = schemas
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		enc := json.NewEncoder(zw)
		if err := enc.Encode(f); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		name := filepath.Join(out, fileName(gv))
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: %d kinds, %d schemas, %d bytes\n", name, len(f.Resources), len(schemas), buf.Len())
	}
	return nil
}

// stripDescriptions removes documentation to keep the binary small; the
// resolver only needs types.
func stripDescriptions(v any) {
	switch x := v.(type) {
	case map[string]any:
		if d, ok := x["description"]; ok {
			if _, isString := d.(string); isString {
				delete(x, "description")
			}
		}
		for _, c := range x {
			stripDescriptions(c)
		}
	case []any:
		for _, c := range x {
			stripDescriptions(c)
		}
	}
}

// groupVersions are the group-versions compiled in.
var groupVersions = []string{
	"v1",
	"apps/v1",
	"batch/v1",
	"autoscaling/v1",
	"autoscaling/v2",
	"networking.k8s.io/v1",
	"policy/v1",
	"rbac.authorization.k8s.io/v1",
	"storage.k8s.io/v1",
	"coordination.k8s.io/v1",
	"discovery.k8s.io/v1",
	"scheduling.k8s.io/v1",
	"node.k8s.io/v1",
	"certificates.k8s.io/v1",
	"events.k8s.io/v1",
	"apiextensions.k8s.io/v1",
	"admissionregistration.k8s.io/v1",
	"flowcontrol.apiserver.k8s.io/v1",
}

// file is the stored form of one group-version (read by builtin.Resolver).
type file struct {
	GroupVersion string     `json:"groupVersion"`
	Resources    []resource `json:"resources"`
	// Schemas are the OpenAPI v3 document's components.schemas.
	Schemas map[string]any `json:"schemas"`
}

type resource struct {
	Kind       string `json:"kind"`
	Plural     string `json:"plural"`
	Namespaced bool   `json:"namespaced"`
}

func fileName(gv string) string {
	return strings.ReplaceAll(gv, "/", "_") + ".json.gz"
}

func openAPIPath(gv string) string {
	if !strings.Contains(gv, "/") {
		return "api/" + gv
	}
	return "apis/" + gv
}
