package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"

	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/trellis-dev/trellis/pkg/graph"
)

// WriteCRD prints the CRD an RGD generates, as the controller would apply it.
func WriteCRD(w io.Writer, c *extv1.CustomResourceDefinition) error {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
	if err != nil {
		return err
	}
	delete(obj, "status")
	if md, ok := obj["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
	}
	s, err := marshalObject(obj, nil, "")
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, s)
	return err
}

// GraphFormats are the output formats of `trellis graph`.
var GraphFormats = []string{"text", "mermaid", "dot"}

// NodeState decorates a graph node with an instance's view of it (live
// graphs); nil for the static graph of an RGD.
type NodeState struct {
	State  string // ready, waiting, skipped, error, missing
	Reason string
	Object string // kind namespace/name of the child
}

// WriteGraph prints the dependency graph of an RGD. states, when given,
// adds each node's state for one instance; color enables ANSI colours in
// the text format.
func WriteGraph(w io.Writer, format string, g *graph.Graph, title string, states map[string]*NodeState, color bool) error {
	switch format {
	case "", "text", "tree":
		writeText(w, g, title, states, color)
	case "mermaid":
		writeMermaid(w, g, title, states)
	case "dot":
		writeDot(w, g, title, states)
	default:
		return fmt.Errorf("unknown output format %q (want one of %s)", format, strings.Join(GraphFormats, ", "))
	}
	return nil
}

func kindOf(n *graph.Node) string {
	return n.GVK.Kind + " (" + n.GVK.GroupVersion().String() + ")"
}

func conditions(n *graph.Node) []string {
	var out []string
	for _, d := range n.ForEach {
		out = append(out, "forEach "+d.Name+" in ${"+d.Program.Expr+"}")
	}
	if n.External != nil && n.External.Selector != nil {
		out = append(out, "selector "+metav1.FormatLabelSelector(n.External.Selector))
	}
	for _, p := range n.IncludeWhen {
		out = append(out, "includeWhen ${"+p.Expr+"}")
	}
	for _, p := range n.ReadyWhen {
		out = append(out, "readyWhen ${"+p.Expr+"}")
	}
	return out
}

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBlue   = "\x1b[34m"
)

func stateColor(s string) string {
	switch s {
	case "ready":
		return ansiGreen
	case "waiting", "missing":
		return ansiYellow
	case "error":
		return ansiRed
	case "skipped":
		return ansiDim
	}
	return ""
}

// writeText prints the graph as a tree: each resource under the resource
// it depends on last in apply order (its other dependencies are listed),
// so every resource appears once.
func writeText(w io.Writer, g *graph.Graph, title string, states map[string]*NodeState, color bool) {
	paint := func(c, s string) string {
		if !color || c == "" {
			return s
		}
		return c + s + ansiReset
	}
	fmt.Fprintln(w, paint(ansiBold, title))
	children := map[string][]*graph.Node{}
	for _, n := range g.Nodes {
		parent := ""
		for _, d := range n.Dependencies {
			if parent == "" || g.ByID[d].ApplyOrder > g.ByID[parent].ApplyOrder ||
				(g.ByID[d].ApplyOrder == g.ByID[parent].ApplyOrder && g.ByID[d].Index > g.ByID[parent].Index) {
				parent = d
			}
		}
		children[parent] = append(children[parent], n)
	}
	var walk func(parent, prefix string)
	walk = func(parent, prefix string) {
		list := children[parent]
		for i, n := range list {
			last := i == len(list)-1
			branch, next := "├── ", "│   "
			if last {
				branch, next = "└── ", "    "
			}
			line := paint(ansiBold, n.ID) + "  " + paint(ansiBlue, kindOf(n))
			if n.External != nil {
				line += "  " + paint(ansiDim, "external reference")
			}
			var others []string
			for _, d := range n.Dependencies {
				if d != parent {
					others = append(others, d)
				}
			}
			if len(others) > 0 {
				line += paint(ansiDim, "  (also needs "+strings.Join(others, ", ")+")")
			}
			if st := states[n.ID]; st != nil {
				s := "[" + st.State + "]"
				if st.Object != "" {
					s += " " + st.Object
				}
				if st.Reason != "" {
					s += ": " + st.Reason
				}
				line += "  " + paint(stateColor(st.State), s)
			}
			fmt.Fprintln(w, prefix+branch+line)
			for _, c := range conditions(n) {
				fmt.Fprintln(w, prefix+next+paint(ansiDim, c))
			}
			walk(n.ID, prefix+next)
		}
	}
	walk("", "")
}

func mermaidLabel(s string) string {
	return strings.NewReplacer(`"`, "#quot;", "<", "#lt;", ">", "#gt;").Replace(s)
}

func writeMermaid(w io.Writer, g *graph.Graph, title string, states map[string]*NodeState) {
	fmt.Fprintln(w, "flowchart TD")
	fmt.Fprintf(w, "  schema([\"%s\"])\n", mermaidLabel(title))
	classes := map[string][]string{}
	for _, n := range g.Nodes {
		label := mermaidLabel(n.ID) + "<br/>" + mermaidLabel(kindOf(n))
		if len(n.ForEach) > 0 {
			label += "<br/>" + mermaidLabel("(collection)")
		}
		if st := states[n.ID]; st != nil {
			label += "<br/>" + mermaidLabel(st.State)
			if st.Reason != "" {
				label += ": " + mermaidLabel(st.Reason)
			}
			classes[st.State] = append(classes[st.State], n.ID)
		}
		open, closing := "[\"", "\"]"
		switch {
		case n.External != nil:
			open, closing = "[/\"", "\"/]"
		case len(n.IncludeWhen) > 0:
			open, closing = "{{\"", "\"}}"
		}
		fmt.Fprintf(w, "  %s%s%s%s\n", n.ID, open, label, closing)
	}
	for _, n := range g.Nodes {
		if len(n.Dependencies) == 0 {
			fmt.Fprintf(w, "  schema --> %s\n", n.ID)
		}
		for _, d := range n.Dependencies {
			fmt.Fprintf(w, "  %s --> %s\n", d, n.ID)
		}
	}
	if len(classes) > 0 {
		defs := map[string]string{
			"ready": "fill:#d4f7d4,stroke:#2a2", "waiting": "fill:#fff3c4,stroke:#b90", "missing": "fill:#fff3c4,stroke:#b90",
			"error": "fill:#f7d4d4,stroke:#a22", "skipped": "fill:#eee,stroke:#999,stroke-dasharray:4",
		}
		names := make([]string, 0, len(classes))
		for k := range classes {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			fmt.Fprintf(w, "  classDef %s %s\n", k, defs[k])
			fmt.Fprintf(w, "  class %s %s\n", strings.Join(classes[k], ","), k)
		}
	}
}

func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func writeDot(w io.Writer, g *graph.Graph, title string, states map[string]*NodeState) {
	fills := map[string]string{"ready": "#d4f7d4", "waiting": "#fff3c4", "missing": "#fff3c4", "error": "#f7d4d4", "skipped": "#eeeeee"}
	fmt.Fprintln(w, "digraph rgd {")
	fmt.Fprintln(w, "  rankdir=TB;")
	fmt.Fprintln(w, "  node [shape=box, fontname=\"Helvetica\"];")
	fmt.Fprintf(w, "  schema [label=%s, shape=ellipse];\n", dotQuote(title))
	for _, n := range g.Nodes {
		label := n.ID + "\n" + kindOf(n)
		if len(n.ForEach) > 0 {
			label += "\n(collection)"
		}
		attrs := []string{}
		if st := states[n.ID]; st != nil {
			label += "\n" + st.State
			if st.Reason != "" {
				label += ": " + st.Reason
			}
			if f := fills[st.State]; f != "" {
				attrs = append(attrs, "style=filled", "fillcolor="+dotQuote(f))
			}
		}
		if n.External != nil {
			attrs = append(attrs, "shape=parallelogram")
		}
		if len(n.IncludeWhen) > 0 {
			attrs = append(attrs, "peripheries=2")
		}
		attrs = append([]string{"label=" + dotQuote(label)}, attrs...)
		fmt.Fprintf(w, "  %s [%s];\n", dotQuote(n.ID), strings.Join(attrs, ", "))
	}
	for _, n := range g.Nodes {
		if len(n.Dependencies) == 0 {
			fmt.Fprintf(w, "  schema -> %s;\n", dotQuote(n.ID))
		}
		for _, d := range n.Dependencies {
			fmt.Fprintf(w, "  %s -> %s;\n", dotQuote(d), dotQuote(n.ID))
		}
	}
	fmt.Fprintln(w, "}")
}

// GraphTitle names an RGD's graph.
func GraphTitle(name string, g *graph.Graph) string {
	return fmt.Sprintf("%s: %s", name, kindString(g.Instance.GVK))
}
