package cli

import (
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
}

// checker returns a checker for the inputs and the documents of -f.
func (in *Inputs) load() (*Checker, []*Document, error) {
	crds, extra, err := LoadCRDDirs(in.CRDPaths)
	if err != nil {
		return nil, nil, err
	}
	docs, err := ReadFiles(in.Files, in.Stdin)
	if err != nil {
		return nil, nil, err
	}
	c := &Checker{CRDs: crds, Extra: extra}
	if in.Cluster != nil {
		c.Base, c.Live = in.Cluster, true
	} else {
		c.Base = Offline(nil)
	}
	return c, docs, nil
}

// Validate checks every RGD of the inputs. It prints one line per RGD to out
// and compiler-style diagnostics to errOut, and reports whether all built.
func Validate(in Inputs, out, errOut io.Writer) (bool, error) {
	c, docs, err := in.load()
	if err != nil {
		return false, err
	}
	results, warnings := c.Check(docs)
	WriteDiagnostics(errOut, warnings)
	ok := true
	if len(results) == 0 {
		return false, fmt.Errorf("no ResourceGraphDefinition found in %v", in.Files)
	}
	instDiags := CheckInstances(results, c.Others)
	for _, r := range results {
		if !r.OK() {
			ok = false
			WriteDiagnostics(errOut, r.Diags)
			continue
		}
		g := r.Graph
		fmt.Fprintf(out, "%s: %s: valid (%s, %d resources: %s)\n", r.Doc.File, r.Doc.Name(),
			kindString(g.Instance.GVK), len(g.Nodes), joinIDs(g))
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
