package crdgen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	ackcrds "github.com/trellis-dev/trellis/config/crd/ack"
)

var update = flag.Bool("update", false, "rewrite config/crd/ack from the Go types")

const outDir = "../../../config/crd/ack"

// TestGeneratedUpToDate fails when config/crd/ack differs from the Go types.
func TestGeneratedUpToDate(t *testing.T) {
	for _, k := range Kinds() {
		want, err := YAML(k)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(outDir, k.FileName())
		if *update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./pkg/ack/crdgen -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run go test ./pkg/ack/crdgen -update", path)
		}
	}
}

// TestEmbeddedCRDs checks that the embedded CRDs parse and are the generated ones.
func TestEmbeddedCRDs(t *testing.T) {
	crds, err := ackcrds.CRDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(crds) != len(Kinds()) {
		t.Fatalf("embedded %d CRDs, want %d", len(crds), len(Kinds()))
	}
	for _, k := range Kinds() {
		found := false
		for _, c := range crds {
			if c.Name == k.CRDName() {
				found = true
			}
		}
		if !found {
			t.Errorf("CRD %s not embedded", k.CRDName())
		}
	}
}

type pathInfo struct {
	typ, format string
	preserve    bool
}

func walk(prefix string, s *apiextv1.JSONSchemaProps, out map[string]pathInfo) {
	out[prefix] = pathInfo{typ: s.Type, format: s.Format, preserve: s.XPreserveUnknownFields != nil && *s.XPreserveUnknownFields}
	for name, p := range s.Properties {
		p := p
		walk(prefix+"."+name, &p, out)
	}
	if s.Items != nil && s.Items.Schema != nil {
		walk(prefix+"[]", s.Items.Schema, out)
	}
	if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
		walk(prefix+"{}", s.AdditionalProperties.Schema, out)
	}
}

func loadCRD(t *testing.T, path string) *apiextv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.TrimPrefix(bytes.TrimSpace(b), []byte("---"))
	crd := &apiextv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(b, crd); err != nil {
		t.Fatal(err)
	}
	return crd
}

// TestCompatibleWithACK walks ACK's CRD (testdata, copied from ACK's
// generated config/crd/bases) and checks that every path trellis implements
// exists there with the same type and format, and that required fields and
// immutability rules agree.
func TestCompatibleWithACK(t *testing.T) {
	for _, k := range Kinds() {
		t.Run(k.Kind, func(t *testing.T) {
			ours, err := CRD(k)
			if err != nil {
				t.Fatal(err)
			}
			theirs := loadCRD(t, filepath.Join("testdata", k.FileName()))
			if theirs.Name != ours.Name || theirs.Spec.Group != ours.Spec.Group || theirs.Spec.Names.Kind != ours.Spec.Names.Kind ||
				theirs.Spec.Names.Plural != ours.Spec.Names.Plural || theirs.Spec.Scope != ours.Spec.Scope {
				t.Fatalf("names differ: ours %s %v, ACK %s %v", ours.Name, ours.Spec.Names, theirs.Name, theirs.Spec.Names)
			}
			ov, tv := ours.Spec.Versions[0], theirs.Spec.Versions[0]
			if ov.Name != tv.Name {
				t.Fatalf("version %s, ACK %s", ov.Name, tv.Name)
			}
			op, tp := map[string]pathInfo{}, map[string]pathInfo{}
			walk("", ov.Schema.OpenAPIV3Schema, op)
			walk("", tv.Schema.OpenAPIV3Schema, tp)
			var paths []string
			for p := range op {
				paths = append(paths, p)
			}
			sort.Strings(paths)
			for _, p := range paths {
				theirsP, ok := tp[p]
				if !ok && isExtension(k.Kind, p) {
					continue
				}
				if !ok {
					t.Errorf("%s: not in ACK's CRD", p)
					continue
				}
				if theirsP.typ != op[p].typ || theirsP.format != op[p].format {
					t.Errorf("%s: type %s/%s, ACK has %s/%s", p, op[p].typ, op[p].format, theirsP.typ, theirsP.format)
				}
			}
			t.Logf("%d of ACK's %d paths declared", len(op), len(tp))
			// Every path of ACK's spec is kept by ours: declared, or under a
			// declared (unimplemented) field that preserves unknown fields.
			// Otherwise the API server would prune a field ACK accepts, and
			// the controller could not report it.
			var theirPaths []string
			for p := range tp {
				if strings.HasPrefix(p, ".spec") {
					theirPaths = append(theirPaths, p)
				}
			}
			sort.Strings(theirPaths)
			for _, p := range theirPaths {
				if _, ok := op[p]; ok {
					continue
				}
				kept := false
				for anc := p; anc != ""; anc = parent(anc) {
					if info, ok := op[anc]; ok && info.preserve {
						kept = true
						break
					}
				}
				if !kept {
					t.Errorf("ACK's %s would be pruned by our CRD", p)
				}
			}
			// Required fields and CEL rules on the paths we implement.
			checkRules(t, "", ov.Schema.OpenAPIV3Schema, tv.Schema.OpenAPIV3Schema)
			// Printer columns trellis declares exist in ACK's CRD.
			for _, c := range ov.AdditionalPrinterColumns {
				found := false
				for _, tc := range tv.AdditionalPrinterColumns {
					if tc.JSONPath == c.JSONPath && tc.Name == c.Name && tc.Type == c.Type {
						found = true
					}
				}
				if !found && len(tv.AdditionalPrinterColumns) > 0 {
					t.Errorf("printer column %s (%s) not in ACK's CRD", c.Name, c.JSONPath)
				}
			}
		})
	}
}

// extensions are trellis's fields that ACK's CRDs do not have.
var extensions = map[string][]string{
	// Bucket tags in the {key,value} list shape of the other kinds.
	"Bucket": {".spec.tags"},
	// Where the written secret value came from (no digest of the value).
	"Secret": {".status.secretStringSourceVersion"},
}

func isExtension(kind, path string) bool {
	for _, e := range extensions[kind] {
		if path == e || strings.HasPrefix(path, e+".") || strings.HasPrefix(path, e+"[]") {
			return true
		}
	}
	return false
}

// parent strips the last segment of a path (".a.b[]" -> ".a.b", ".a.b" -> ".a").
func parent(p string) string {
	if strings.HasSuffix(p, "[]") || strings.HasSuffix(p, "{}") {
		return p[:len(p)-2]
	}
	i := strings.LastIndex(p, ".")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

func checkRules(t *testing.T, path string, ours, theirs *apiextv1.JSONSchemaProps) {
	t.Helper()
	if theirs == nil {
		return
	}
	req := func(s *apiextv1.JSONSchemaProps) []string {
		var r []string
		for _, n := range s.Required {
			if _, ok := ours.Properties[n]; ok {
				r = append(r, n)
			}
		}
		sort.Strings(r)
		return r
	}
	if a, b := req(ours), req(theirs); len(a) != len(b) || (len(a) > 0 && !equalStrings(a, b)) {
		t.Errorf("%s: required %v, ACK %v", path, a, b)
	}
	rules := func(s *apiextv1.JSONSchemaProps) []string {
		var r []string
		for _, v := range s.XValidations {
			r = append(r, v.Rule)
		}
		return r
	}
	if a, b := rules(ours), rules(theirs); !equalStrings(a, b) {
		t.Errorf("%s: CEL rules %v, ACK %v", path, a, b)
	}
	for name, p := range ours.Properties {
		p := p
		if tp, ok := theirs.Properties[name]; ok {
			checkRules(t, path+"."+name, &p, &tp)
		}
	}
	if ours.Items != nil && ours.Items.Schema != nil && theirs.Items != nil {
		checkRules(t, path+"[]", ours.Items.Schema, theirs.Items.Schema)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
