package cli

import (
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	trt "github.com/trellis-dev/trellis/pkg/runtime"
)

// RenderInputs are the inputs of `trellis render`.
type RenderInputs struct {
	Inputs
	// Instances are -i files.
	Instances []string
	// Observed are --observed files.
	Observed []string
	// Namespace is used for instances that set none.
	Namespace string
	// ChildLabels is the controller's --child-labels.
	ChildLabels trt.ChildLabelSet
}

// RunRender renders every instance of -i with the RGD of -f that defines
// its kind. It reports false when an RGD does not build, an instance is
// invalid, or a child cannot be rendered (errors, not waits).
func RunRender(in RenderInputs, out, errOut io.Writer) (bool, error) {
	c, docs, err := in.load()
	if err != nil {
		return false, err
	}
	results, warnings := c.Check(docs)
	WriteDiagnostics(errOut, warnings)
	ok := true
	for _, r := range results {
		if !r.OK() {
			ok = false
			WriteDiagnostics(errOut, r.Diags)
		}
	}
	instDocs, err := ReadFiles(in.Instances, in.Stdin)
	if err != nil {
		return false, err
	}
	var observed []*unstructured.Unstructured
	if len(in.Observed) > 0 {
		obsDocs, err := ReadFiles(in.Observed, nil)
		if err != nil {
			return false, err
		}
		for _, d := range obsDocs {
			if d.Kind() == "List" {
				items, _ := d.Object["items"].([]any)
				for _, it := range items {
					if m, isMap := it.(map[string]any); isMap {
						observed = append(observed, &unstructured.Unstructured{Object: m})
					}
				}
				continue
			}
			observed = append(observed, d.Unstructured())
		}
	}
	if len(instDocs) == 0 {
		return false, fmt.Errorf("no instance in %v", in.Instances)
	}
	for i, d := range instDocs {
		inst := d.Unstructured()
		var match *Checked
		for _, r := range results {
			if r.OK() && r.Graph.Instance.GVK.GroupKind() == inst.GroupVersionKind().GroupKind() {
				match = r
			}
		}
		if match == nil {
			ok = false
			fmt.Fprintf(errOut, "%s: %s %q: no valid ResourceGraphDefinition among -f defines kind %s\n",
				docPos(d), d.Kind(), d.Name(), kindString(inst.GroupVersionKind()))
			continue
		}
		if sch, err := newObjectSchema(match.Graph.CRD.Spec.Versions[0].Schema.OpenAPIV3Schema); err == nil {
			if diags := checkShape(d, sch); len(diags) > 0 {
				ok = false
				WriteDiagnostics(errOut, diags)
				continue
			}
		}
		prepared, problems, err := PrepareInstance(match.Graph, inst, in.Namespace)
		if err != nil {
			ok = false
			fmt.Fprintf(errOut, "%s: %v\n", docPos(d), err)
			continue
		}
		if len(problems) > 0 {
			ok = false
			for _, p := range problems {
				fmt.Fprintf(errOut, "%s: instance %s is invalid: %s\n", docPos(d), d.Name(), p)
			}
			continue
		}
		res := Render(match.Graph, prepared, RenderOptions{Observed: observed, ChildLabels: in.ChildLabels})
		for _, n := range res.Nodes {
			if n.State == "error" {
				ok = false
				fmt.Fprintf(errOut, "%s: resources[%s]: %s\n", docPos(d), n.Node.ID, oneLine(n.Reason))
			}
			if n.State == "waiting" && strings.Contains(n.Reason, InstanceDataMissing) {
				ok = false
				fmt.Fprintf(errOut, "%s: instance %s: resources[%s] can never be created as the instance stands (the controller keeps it IN_PROGRESS until the instance changes): %s\n",
					docPos(d), d.Name(), n.Node.ID, oneLine(n.Reason))
			}
		}
		if i > 0 {
			fmt.Fprintln(out, "---")
		}
		if err := WriteRender(out, match.Graph, res); err != nil {
			return false, err
		}
	}
	return ok, nil
}
