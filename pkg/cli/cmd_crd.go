package cli

import (
	"fmt"
	"io"
)

// RunCRD prints the generated CRD of every RGD of the inputs.
func RunCRD(in Inputs, out, errOut io.Writer) (bool, error) {
	return eachGraph(in, errOut, func(r *Checked, first bool) error {
		if !first {
			fmt.Fprintln(out, "---")
		}
		return WriteCRD(out, r.Graph.CRD)
	})
}

// RunGraph prints the dependency graph of every RGD of the inputs.
func RunGraph(in Inputs, format string, color bool, out, errOut io.Writer) (bool, error) {
	return eachGraph(in, errOut, func(r *Checked, first bool) error {
		if !first {
			fmt.Fprintln(out)
		}
		return WriteGraph(out, format, r.Graph, GraphTitle(r.Doc.Name(), r.Graph), nil, color)
	})
}

// eachGraph builds every RGD of the inputs and calls emit for each one that
// built; the others' diagnostics go to errOut. ok is false if any failed.
func eachGraph(in Inputs, errOut io.Writer, emit func(r *Checked, first bool) error) (bool, error) {
	c, docs, err := in.load()
	if err != nil {
		return false, err
	}
	results, warnings := c.Check(docs)
	WriteDiagnostics(errOut, warnings)
	if len(results) == 0 {
		return false, fmt.Errorf("no ResourceGraphDefinition found in %v", in.Files)
	}
	ok, first := true, true
	for _, r := range results {
		if !r.OK() {
			ok = false
			WriteDiagnostics(errOut, r.Diags)
			continue
		}
		if err := emit(r, first); err != nil {
			return false, err
		}
		first = false
	}
	return ok, nil
}
