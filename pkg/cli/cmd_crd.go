package cli

import (
	"fmt"
	"io"
)

// RunCRD prints the generated CRD of every RGD of the inputs.
func RunCRD(in Inputs, out, errOut io.Writer) (bool, error) {
	c, docs, err := in.load()
	if err != nil {
		return false, err
	}
	results, warnings := c.Check(docs)
	WriteDiagnostics(errOut, warnings)
	if len(results) == 0 {
		return false, fmt.Errorf("no ResourceGraphDefinition found in %v", in.Files)
	}
	ok := true
	first := true
	for _, r := range results {
		if !r.OK() {
			ok = false
			WriteDiagnostics(errOut, r.Diags)
			continue
		}
		if !first {
			fmt.Fprintln(out, "---")
		}
		first = false
		if err := WriteCRD(out, r.Graph.CRD); err != nil {
			return false, err
		}
	}
	return ok, nil
}

// RunGraph prints the dependency graph of every RGD of the inputs.
func RunGraph(in Inputs, format string, color bool, out, errOut io.Writer) (bool, error) {
	c, docs, err := in.load()
	if err != nil {
		return false, err
	}
	results, warnings := c.Check(docs)
	WriteDiagnostics(errOut, warnings)
	if len(results) == 0 {
		return false, fmt.Errorf("no ResourceGraphDefinition found in %v", in.Files)
	}
	ok := true
	first := true
	for _, r := range results {
		if !r.OK() {
			ok = false
			WriteDiagnostics(errOut, r.Diags)
			continue
		}
		if !first {
			fmt.Fprintln(out)
		}
		first = false
		if err := WriteGraph(out, format, r.Graph, GraphTitle(r.Doc.Name(), r.Graph), nil, color); err != nil {
			return false, err
		}
	}
	return ok, nil
}
