package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/trellis-dev/trellis/pkg/graph"
)

// Inputs are the common flags of the offline commands.
type Inputs struct {
	// Files are -f arguments ("-" is stdin; directories are read recursively).
	Files []string
	// CRDPaths are --crds arguments: CRD files or directories.
	CRDPaths []string
	Stdin    io.Reader
	// Cluster, when set, resolves kinds instead of the compiled-in ones.
	Cluster graph.Resolver
	// Identity, when set, checks that it may do what each RGD needs.
	Identity *IdentityCheck
}

// checker returns a checker for the inputs and the documents of -f.
func (in *Inputs) load() (*Checker, []*Document, error) {
	crds, extra, err := LoadCRDDirs(in.CRDPaths)
	if err != nil {
		return nil, nil, err
	}
	docs, err := ReadFiles(in.Files, in.Stdin)
	if err != nil {
		return nil, docs, err
	}
	c := &Checker{CRDs: crds, Extra: extra}
	if in.Cluster != nil {
		c.Base, c.Live = in.Cluster, true
	} else {
		c.Base = Offline(nil)
	}
	return c, docs, nil
}

// loadAll is load for commands that report every problem: YAML syntax
// errors are returned as diagnostics and the documents that parsed are
// checked all the same.
func (in *Inputs) loadAll() (*Checker, []*Document, []Diagnostic, error) {
	var syntax SyntaxErrors
	c, docs, err := in.load()
	if errors.As(err, &syntax) {
		in2 := *in
		in2.Files, in2.Stdin = nil, nil
		c, _, err = in2.load()
	}
	return c, docs, syntax, err
}

// Validate checks every RGD of the inputs. It prints one line per RGD to out
// and compiler-style diagnostics to errOut, and reports whether all built.
func Validate(in Inputs, out, errOut io.Writer) (bool, error) {
	c, docs, syntax, err := in.loadAll()
	if err != nil {
		return false, err
	}
	WriteDiagnostics(errOut, syntax)
	results, warnings := c.Check(docs)
	WriteDiagnostics(errOut, warnings)
	ok := len(syntax) == 0
	if len(results) == 0 {
		if !ok {
			return false, nil
		}
		return false, fmt.Errorf("no ResourceGraphDefinition found in %v", in.Files)
	}
	instDiags, valid := CheckInstances(results, c.Others)
	for _, r := range results {
		if !r.OK() {
			ok = false
			WriteDiagnostics(errOut, r.Diags)
			continue
		}
		g := r.Graph
		if in.Identity != nil {
			d, err := in.Identity.check(context.Background(), r)
			if err != nil {
				return false, err
			}
			if d != nil {
				ok = false
				WriteDiagnostics(errOut, []Diagnostic{*d})
				continue
			}
		}
		fmt.Fprintf(out, "%s: %s: valid (%s, %d resources: %s)\n", r.Doc.File, r.Doc.Name(),
			kindString(g.Instance.GVK), len(g.Nodes), joinIDs(g))
	}
	for _, d := range valid {
		fmt.Fprintf(out, "%s: %s %s: valid instance of %s\n", d.File, d.Kind(), d.Name(), kindString(d.Unstructured().GroupVersionKind()))
	}
	for _, d := range instDiags {
		if !d.Warning {
			ok = false
		}
	}
	WriteDiagnostics(errOut, instDiags)
	return ok, nil
}

func joinIDs(g *graph.Graph) string {
	s := ""
	for i, n := range g.Nodes {
		if i > 0 {
			s += ", "
		}
		s += n.ID
	}
	return s
}
